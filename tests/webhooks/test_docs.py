"""docs/webhooks.md keeps up with the code: every event type has a section, the receiver snippets really verify."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kefu_host.events.signing import sign
from kefu_host.webhooks.events import EVENT_TYPES
from tests.webhooks.conftest import OTHER_SECRET, SECRET

DOC = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text(encoding="utf-8")


def code_block(language: str, containing: str) -> str:
    for block in re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL):
        if containing in block:
            return str(block)
    raise AssertionError(f"no {language} block containing {containing!r} in docs/webhooks.md")


def test_every_event_type_has_a_section() -> None:
    headings = set(re.findall(r"^### (\S+)$", DOC, flags=re.MULTILINE))
    assert set(EVENT_TYPES) <= headings


@pytest.mark.parametrize("secret", [SECRET, OTHER_SECRET])
def test_the_standard_library_receiver_snippet_accepts_our_signature_and_nothing_else(secret: str) -> None:
    namespace: dict[str, Any] = {}
    exec(code_block("python", "def verify_webhook"), namespace)  # noqa: S102 -- the documented snippet itself
    verify_webhook = namespace["verify_webhook"]
    body = b'{"id":"evt_1","type":"conversation.closed"}'
    headers = sign(secret, "dlv_abc", body)
    verify_webhook(headers, body, secret)
    with pytest.raises(ValueError):
        verify_webhook(headers, body + b" ", secret)
    with pytest.raises(ValueError):
        verify_webhook(headers, body, "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    with pytest.raises(ValueError):
        verify_webhook(sign(secret, "dlv_abc", body, timestamp=1_000_000_000), body, secret)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("secret", [SECRET, OTHER_SECRET])
def test_the_node_receiver_snippet_accepts_our_signature_and_nothing_else(secret: str) -> None:
    body = '{"id":"evt_1","type":"message.created","data":{"message":{"body":"你好"}}}'
    headers = sign(secret, "dlv_abc", body.encode())
    script = (
        code_block("js", "function verifyWebhook")
        + f"""
const headers = {json.dumps(headers)}, secret = {json.dumps(secret)};
const body = Buffer.from({json.dumps(body)}, "utf8");
verifyWebhook(headers, body, secret);
let refused = 0;
for (const bad of [Buffer.concat([body, Buffer.from(" ")]), Buffer.from("{{}}")]) {{
  try {{ verifyWebhook(headers, bad, secret); }} catch (e) {{ refused += 1; }}
}}
console.log(refused);
"""
    )
    result = subprocess.run(["node", "-e", script], check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
