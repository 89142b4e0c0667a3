"""WebSocket handshakes: malformed resume points and tokens are refused before the upgrade, never with a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from yarl import URL


async def _refused(host: Any, target: str, **kwargs: Any) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await host.client.ws_connect(URL(target, encoded=True), **kwargs)
    return info.value.status


@pytest.mark.parametrize("last_seq", [str(10**30), str(2**64), str(2**31), "%C2%B2", "9" * 5000, "-1", "1.5"])
async def test_a_last_seq_that_is_no_seq_is_a_400(start_host: Callable[..., Any], last_seq: str) -> None:
    host = await start_host()
    visitor = await host.visitor()
    await visitor.say("hi")  # so the handshake has a conversation to resume
    assert await _refused(host, f"/ws/visitor?token={visitor.token}&last_seq={last_seq}") == 400  # type: ignore[attr-defined]
    again = await host.visitor(visitor.token, last_seq=0)  # type: ignore[attr-defined]
    assert (await again.expect("message"))["body"] == "hi"


@pytest.mark.parametrize("resume", [f"1:{10**30}", f"{2**63}:1", "1:%C2%B2", "%D9%A1:1", "1:" + "9" * 5000, "1",
                                    "1:2:3", "a:b"])
async def test_a_malformed_resume_point_is_a_400(start_host: Callable[..., Any], resume: str) -> None:
    host = await start_host()
    token = await host.add_agent("alice")
    status = await _refused(host, f"/ws/agent?resume={resume}", headers={"Authorization": f"Bearer {token}"})
    assert status == 400


@pytest.mark.parametrize("token", ["kfa_²_secret", "kfa_١_secret", "kfa_" + "9" * 25 + "_secret", "kfa_-1_secret",
                                   "kfa_0_secret", f"kfa_{2**63}_secret", "kfa_1é_secret"])
async def test_an_agent_token_naming_no_possible_agent_is_a_401(
    start_host: Callable[..., Any], db_url: str, token: str
) -> None:
    host = await start_host(db_url=db_url)
    await host.add_agent("alice")
    assert await _refused(host, "/ws/agent", headers={"Authorization": f"Bearer {token}"}) == 401
