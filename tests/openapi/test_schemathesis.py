"""schemathesis against a real host on loopback: for every documented operation, generated requests (valid and
invalid) never get a 5xx, and every answer conforms to the document (status, content type, headers, body)."""

from __future__ import annotations

import asyncio
import collections
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import APIOperation
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kefu_host.events.signing import sign
from kefu_host.testing.clients import VisitorClient
from kefu_host.testing.process import HostProcess
from tests.conftest import ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[2]
EVENT_SECRET = "schemathesis-event-secret"
#: Examples per operation: enough to reach every handler's refusals, bounded so the run stays short.
MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, missing_required_header, ignored_auth]

#: Invalid input must be refused with a 4xx; 413 (a body over the endpoint's limit) is a refusal like the others.
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "409", "410", "413", "415", "422", "429"]}}})


def host_config(tmp: Path) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "default.rule").write_text(
        'rule default.general priority -1000\n  when true\n  then assign_team "support"\nend\n', encoding="utf-8")
    plugins = ", ".join(f'"{ROOT / "plugins" / name}"' for name in ("ticket", "erp", "payments"))
    path = tmp / "kefu.toml"
    path.write_text(textwrap.dedent(f"""
        [server]
        host = "127.0.0.1"
        port = 0
        log_format = "json"
        allowed_origins = ["https://shop.example"]  # the example origin of /widget/frame
        [database]
        url = "sqlite+aiosqlite:///{tmp}/kefu.db"
        [rules]
        directory = "rules"
        [secrets]
        visitor_token = "schemathesis-visitor-secret"
        identity = "schemathesis-identity-secret"
        admin_token = "{ADMIN_TOKEN}"
        [auth]
        # generated requests fail authentication by the hundred: keep answering them, not 429
        max_failures = 1000000
        [chat]
        teams = ["support"]
        [events.sources.shop]
        secrets = ["{EVENT_SECRET}"]
        [web]
        demo = true
        [plugins]
        load = [{plugins}]
        [plugins.erp]
        base_url = "http://127.0.0.1:9"
        [plugins.payments]
        provider_url = "http://127.0.0.1:9"
        """), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    process = HostProcess(host_config(tmp_path_factory.mktemp("schemathesis")))
    try:
        process.wait_listening()
        asyncio.run(seed(process.url))
        yield process
    finally:
        process.kill()
    errors = [r for r in process.log.records if r.get("level") == "error" or r.get("event") is None]
    assert not errors, f"the host logged errors while schemathesis ran: {errors[:5]}"


async def seed(url: str) -> None:
    """Conversation 1 with a message and canned reply 1, so the endpoints of either answer more than 404."""
    async with aiohttp.ClientSession(url) as http:
        async with http.post("/api/canned", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                             json={"shortcut": "hi", "body": "Hi there!", "team": "support"}) as answer:
            assert answer.status == 201, await answer.text()
        async with http.post("/api/visitor/sessions") as answer:
            token = (await answer.json())["token"]
        visitor = VisitorClient(await http.ws_connect(f"/ws/visitor?token={token}"))
        await visitor.expect("welcome")
        ack = await visitor.say("hello from the schemathesis run")
        assert ack["conversation_id"] == 1, ack
        await visitor.close()


@pytest.fixture(scope="module")
def api_schema(host: HostProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{host.url}/api/openapi.json", config=CONFIG)


class SignEvents(requests.auth.AuthBase):
    """Signs a request that carries ``webhook-id`` (the events API) the way a business system would."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        msg_id = request.headers.get("webhook-id")
        if msg_id:
            body = request.body or b""
            body = body.encode() if isinstance(body, str) else body
            request.headers.update(sign(EVENT_SECRET, str(msg_id), body, int(time.time())))
        return request


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.auth = SignEvents()
        yield s


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms(mode: GenerationMode, api_schema: BaseSchema, host: HostProcess,
                                  session: requests.Session) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20, "the document lost its operations"
    for operation in operations:
        try:
            run_operation(operation, mode, host, session)
        except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE, operation.path
        except Exception as exc:  # noqa: BLE001 (every operation's failure is reported, not just the first)
            failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
    answered = [r for r in host.log.records if r.get("logger") == "kefu_host.access"]
    statuses = collections.Counter(int(r["status"]) for r in answered)
    assert statuses[200] and statuses[201] and statuses[400] and statuses[422], statuses  # it reached the handlers


def run_operation(operation: APIOperation, mode: GenerationMode, host: HostProcess,
                  session: requests.Session) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Case) -> None:
        # the admin token unless the case brings its own credential (the documented refusals are then checked)
        headers = {} if "Authorization" in (case.headers or {}) else {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        case.call_and_validate(base_url=host.url, session=session, headers=headers, checks=CHECKS, timeout=30)

    run()
