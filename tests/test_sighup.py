"""One SIGHUP handler runs every feature's reload; the last one removed takes the handler away."""

from __future__ import annotations

import asyncio
import os
import signal

from kefu_host.sighup import Sighup


async def test_every_reload_runs_on_sighup_and_a_failing_one_does_not_stop_the_others() -> None:
    sighup = Sighup()
    ran: list[str] = []
    both = asyncio.Event()

    async def rules() -> None:
        ran.append("rules")
        if len(ran) == 2:
            both.set()

    async def broken() -> None:
        raise RuntimeError("bad file")

    async def plugins() -> None:
        ran.append("plugins")
        if len(ran) == 2:
            both.set()

    for reload in (rules, broken, plugins):
        assert sighup.add(reload)
    assert sighup.installed  # else the signal below would end the test run
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(both.wait(), 5)
        assert sorted(ran) == ["plugins", "rules"]
    finally:
        for reload in (rules, broken, plugins):
            sighup.discard(reload)
    assert not sighup.installed
    assert signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, signal.Handlers.SIG_DFL)


async def test_discarding_one_keeps_the_handler_for_the_rest() -> None:
    sighup = Sighup()

    async def one() -> None: ...

    async def two() -> None: ...

    sighup.add(one)
    sighup.add(two)
    sighup.discard(one)
    assert sighup.installed
    sighup.discard(two)
    sighup.discard(two)  # twice is harmless
    assert not sighup.installed
