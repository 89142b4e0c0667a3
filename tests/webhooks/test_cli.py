"""``kefu-host webhooks list|replay`` through the real command line, on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from kefu_host.cli import main
from kefu_host.config import database_url, load_config
from kefu_host.store import open_store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import repo
from kefu_host.webhooks.events import CONVERSATION_CLOSED, CONVERSATION_CREATED, new_event
from kefu_host.webhooks.repo import Delivery


@pytest.fixture(autouse=True)
def _no_ambient_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEFU_CONFIG", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def seed(config_path: Path, states: list[str]) -> list[str]:
    """One delivery per state given ("pending", "delivered" or "dead"), recorded and settled the way the worker does."""
    url = database_url(load_config(config_path, environ={}))

    async def go() -> list[str]:
        ids = []
        async with open_store(url) as store:
            for n, state in enumerate(states):
                kind = CONVERSATION_CLOSED if state == "dead" else CONVERSATION_CREATED
                event = new_event(kind, utcnow() + timedelta(seconds=n), {"n": n})
                (delivery_id,) = await repo.record(store, event, [("crm", "http://crm.example/hook")])
                ids.append(delivery_id)
                if state == "pending":
                    continue
                row = await repo.get(store, delivery_id)
                assert row is not None
                (held,) = await repo.claim(store, [(row, utcnow() + timedelta(seconds=60))])
                error = "HTTP 500: down" if state == "dead" else None
                assert await repo.settle(store, held, state, utcnow(), error=error)  # type: ignore[arg-type]
        return ids

    return asyncio.run(go())


def fetch(config_path: Path, delivery_id: str) -> Delivery:
    url = database_url(load_config(config_path, environ={}))

    async def go() -> Delivery | None:
        async with open_store(url) as store:
            return await repo.get(store, delivery_id)

    row = asyncio.run(go())
    assert row is not None
    return row


@pytest.fixture
def cfg(write_config: Callable[..., Path]) -> Path:
    return write_config()


def test_list_shows_newest_first_and_filters_by_status(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", str(cfg), "webhooks", "list")
    assert (code, out) == (0, "no webhook deliveries\n")

    pending, delivered, dead = seed(cfg, ["pending", "delivered", "dead"])
    code, out, _ = run(capsys, "--config", str(cfg), "webhooks", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["id", "endpoint", "event", "status", "tries"]
    assert [line.split()[0] for line in lines[1:]] == [dead, delivered, pending]
    assert lines[1].split()[1:5] == ["crm", "conversation.closed", "dead", "1"]
    assert lines[1].endswith("HTTP 500: down")

    code, out, _ = run(capsys, "--config", str(cfg), "webhooks", "list", "--status", "delivered")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [delivered]
    code, out, _ = run(capsys, "--config", str(cfg), "webhooks", "list", "--limit", "1")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [dead]
    code, _, err = run(capsys, "--config", str(cfg), "webhooks", "list", "--status", "lost")
    assert code == 2 and "invalid choice: 'lost'" in err


def test_replay_puts_dead_and_delivered_back_to_pending_and_leaves_pending_alone(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pending, delivered, dead = seed(cfg, ["pending", "delivered", "dead"])
    before = fetch(cfg, pending)
    code, out, err = run(capsys, "--config", str(cfg), "webhooks", "replay", dead, delivered, pending)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{dead}: queued for delivery",
        f"{delivered}: queued for delivery",
        f"{pending}: already pending, left as it is",
    ]
    for delivery_id in (dead, delivered):
        row = fetch(cfg, delivery_id)
        assert (row.status, row.attempts, row.delivered_at) == ("pending", 0, None)
        assert row.next_attempt_at is not None and row.next_attempt_at <= utcnow()
    assert fetch(cfg, pending) == before


def test_replaying_an_unknown_id_fails_with_a_clear_message(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dead,) = seed(cfg, ["dead"])
    code, out, err = run(capsys, "--config", str(cfg), "webhooks", "replay", "dlv_nope", dead)
    assert code == 1
    assert err == "kefu-host: no webhook delivery with id 'dlv_nope'\n"
    assert out == f"{dead}: queued for delivery\n"  # the known one is still replayed
    assert fetch(cfg, dead).status == "pending"


def test_replay_all_dead_takes_only_dead_ones(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead1, delivered, dead2 = seed(cfg, ["dead", "delivered", "dead"])
    code, out, _ = run(capsys, "--config", str(cfg), "webhooks", "replay", "--all-dead")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "2 dead deliveries queued for delivery"
    assert sorted(line.strip() for line in lines[1:]) == sorted([dead1, dead2])
    assert [fetch(cfg, i).status for i in (dead1, delivered, dead2)] == ["pending", "delivered", "pending"]
    code, out, _ = run(capsys, "--config", str(cfg), "webhooks", "replay", "--all-dead")
    assert (code, out) == (0, "0 dead deliveries queued for delivery\n")


def test_replay_wants_ids_or_all_dead(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(cfg), "webhooks", "replay")
    assert code == 2 and "give delivery ids or --all-dead" in err
    code, _, err = run(capsys, "--config", str(cfg), "webhooks", "replay", "--all-dead", "dlv_x")
    assert code == 2 and "give delivery ids or --all-dead" in err
