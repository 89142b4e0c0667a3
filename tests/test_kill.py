"""SIGKILL a real ``kefu-host`` under load, restart it on the same database, several times: every message that
got an ``ack`` is stored exactly once with the id and seq of its ack, and every event that got a 2xx is recorded
exactly once with its effect (the LTV it added) applied exactly once.

Visitors send over ``/ws/visitor`` with a few sends waiting for their acks; event senders post signed
``order.paid`` events (single and in batches). Each round, the host is killed the moment a seeded number of acks and of 2xx
answers has been seen, so sends and commits are in flight when it dies. The next round first resends what got no
answer (same ``client_msg_id``, same event id), as a client should, then sends new traffic.

``KEFU_KILL_SEED`` picks another seed; the seed is in every failure message.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from kefu_host.testing.events import envelope, signed
from kefu_host.testing.process import HostProcess
from tests.events.conftest import SECRET

SEED = int(os.environ.get("KEFU_KILL_SEED", "20261201"))
ROUNDS = 3
VISITORS = 4
#: Sends a visitor has waiting for their acks at any time.
WINDOW = 4
EVENT_SENDERS = 2
UIDS = ("u-kill-1", "u-kill-2", "u-kill-3")
#: Most new messages per visitor, and new events per sender, in one round: the load is bounded even if the
#: kill thresholds are never reached (which fails the round).
MAX_NEW = 400
#: Seconds a round may take to reach its kill thresholds.
ROUND_DEADLINE = 30.0

CONFIG = f"""
[events.sources.shop]
secrets = ["{SECRET}"]
"""
#: The visitor rate limit is not under test here.
ENV = {"KEFU_CHAT__VISITOR_RATE": "100000", "KEFU_CHAT__VISITOR_BURST": "100000"}


@dataclass(frozen=True)
class Ack:
    conversation_id: int
    id: int
    seq: int


@dataclass
class Ledger:
    """What clients were told, over all rounds, and what they sent without an answer."""

    seed: int
    acks: dict[str, Ack] = field(default_factory=dict)
    #: per visitor: client_msg_ids sent without an ack seen (resent next round)
    unacked: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: event id -> (uid, amount in cents), for every event ever sent
    events: dict[str, tuple[str, int]] = field(default_factory=dict)
    events_2xx: set[str] = field(default_factory=set)
    #: event envelopes sent without a 2xx seen (resent next round)
    events_unanswered: list[dict[str, Any]] = field(default_factory=list)

    def record_ack(self, frame: dict[str, Any]) -> None:
        ack = Ack(frame["conversation_id"], frame["id"], frame["seq"])
        before = self.acks.setdefault(frame["client_msg_id"], ack)
        assert before == ack, f"seed {self.seed}: {frame['client_msg_id']} acked as {before} and as {ack}"


class Round:
    """One life of the host: load until ``kill_after_acks`` acks and ``kill_after_events`` 2xx, then SIGKILL."""

    def __init__(self, number: int, host: HostProcess, ledger: Ledger, rng: random.Random) -> None:
        self.number, self.host, self.ledger, self.rng = number, host, ledger, rng
        self.kill_after_acks = rng.randint(40, 160)
        self.kill_after_events = rng.randint(10, 40)
        self.acks = 0
        self.events_2xx = 0
        #: sends and events in flight when the host died (no answer seen): resent by the next round
        self.unanswered = 0
        self.killed = asyncio.Event()

    def _maybe_kill(self) -> None:
        if (not self.killed.is_set() and self.acks >= self.kill_after_acks
                and self.events_2xx >= self.kill_after_events):
            os.kill(self.host.proc.pid, signal.SIGKILL)  # at once, from the answer that reached the threshold
            self.killed.set()

    async def visitor(self, session: aiohttp.ClientSession, index: int, token: str) -> None:
        resend, self.ledger.unacked[index] = self.ledger.unacked[index], []
        outstanding: set[str] = set()
        window = asyncio.Semaphore(WINDOW)
        ws = await session.ws_connect(f"{self.host.url}/ws/visitor?token={token}")
        welcome = await ws.receive_json(timeout=10)
        assert welcome["type"] == "welcome", f"seed {self.ledger.seed}: {welcome}"

        async def read() -> None:
            try:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    frame = orjson.loads(msg.data)
                    if frame["type"] == "ack":
                        self.ledger.record_ack(frame)
                        outstanding.discard(frame["client_msg_id"])
                        window.release()
                        if not self.killed.is_set():
                            self.acks += 1
                            self._maybe_kill()
                    assert frame["type"] != "error", f"seed {self.ledger.seed}: {frame}"
            finally:
                for _ in range(WINDOW):  # the socket is gone: no ack will free the sender
                    window.release()

        reader = asyncio.create_task(read())
        new = (f"r{self.number}-v{index}-{n}" for n in range(MAX_NEW))
        try:
            for client_msg_id in [*resend, *new]:
                await window.acquire()
                if self.killed.is_set() or reader.done():
                    break
                outstanding.add(client_msg_id)
                await ws.send_str(orjson.dumps({"type": "send", "client_msg_id": client_msg_id,
                                                "body": f"message {client_msg_id}"}).decode())
            await reader
        except (aiohttp.ClientError, ConnectionError):
            pass  # the host died under us
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self.unanswered += len(outstanding)
            self.ledger.unacked[index] = [m for m in [*resend, *outstanding] if m not in self.ledger.acks]
            await ws.close()

    async def events(self, session: aiohttp.ClientSession, sender: int) -> None:
        ledger = self.ledger
        resend, ledger.events_unanswered = ledger.events_unanswered, []
        queue: list[list[dict[str, Any]]] = [[e] for e in resend]
        for n in range(MAX_NEW):
            batch = []
            for k in range(self.rng.choice((1, 1, 1, 3))):
                uid, cents = self.rng.choice(UIDS), self.rng.randint(1, 50_000)
                name = f"r{self.number}-s{sender}-{n}-{k}"
                event = envelope("order.paid", {"uid": uid, "order_id": f"o-{name}", "currency": "CNY",
                                                "amount": f"{cents // 100}.{cents % 100:02d}"},
                                 event_id=f"evt-{name}")
                ledger.events[event["id"]] = (uid, cents)
                batch.append(event)
            queue.append(batch)
        for position, batch in enumerate(queue):
            if self.killed.is_set():
                ledger.events_unanswered.extend(e for b in queue[position:] for e in b)
                return
            if len(batch) == 1:
                path, payload, msg_id = "/api/events", batch[0], None
            else:
                path, payload, msg_id = "/api/events/batch", {"events": batch}, f"batch-{batch[0]['id']}"
            body, headers = signed(SECRET, payload, msg_id)
            try:
                async with session.post(f"{self.host.url}{path}", data=body, headers=headers) as response:
                    answer = await response.json() if response.status < 500 else None
                    status = response.status
            except (aiohttp.ClientError, ConnectionError):
                self.unanswered += len(batch)
                ledger.events_unanswered.extend(e for b in queue[position:] for e in b)
                return
            if status == 503:
                ledger.events_unanswered.extend(batch)
                continue
            assert status == 200, f"seed {ledger.seed}: {path} answered {status}: {answer}"
            results = answer["results"] if len(batch) > 1 else [answer]
            assert [r["id"] for r in results] == [e["id"] for e in batch]
            assert {r["status"] for r in results} <= {"accepted", "duplicate"}
            ledger.events_2xx.update(e["id"] for e in batch)
            if not self.killed.is_set():
                self.events_2xx += len(batch)
                self._maybe_kill()


async def _run_round(
    number: int, host: HostProcess, ledger: Ledger, rng: random.Random, tokens: list[str]
) -> Round:
    this = Round(number, host, ledger, rng)
    timeout = aiohttp.ClientTimeout(total=ROUND_DEADLINE)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        load = [asyncio.create_task(this.visitor(session, i, token)) for i, token in enumerate(tokens)]
        load += [asyncio.create_task(this.events(session, i)) for i in range(EVENT_SENDERS)]
        killed = asyncio.create_task(this.killed.wait())
        try:
            # ends with the kill (once the load has wound down), or at once when a sender fails (an error frame, a
            # 4xx: its own message says what), or at the deadline
            await asyncio.wait([killed, *load], timeout=ROUND_DEADLINE, return_when=asyncio.FIRST_EXCEPTION)
            if not this.killed.is_set():
                host.kill()
                for task in load:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                raise AssertionError(f"seed {ledger.seed}: {this.acks} acks and {this.events_2xx} events in "
                                     f"{ROUND_DEADLINE} s; the kill needed {this.kill_after_acks} and "
                                     f"{this.kill_after_events}")
        finally:
            killed.cancel()
            results = await asyncio.gather(*load, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures
    assert await host.exited() == -signal.SIGKILL
    print(f"round: killed after {this.acks} acks and {this.events_2xx} 2xx events; "
          f"{this.unanswered} sends and events in flight")
    return this


async def _stored(db_url: str) -> tuple[list[Any], dict[int, int], list[Any], dict[str, int]]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            messages = (await conn.execute(sa.text(
                "SELECT conversation_id, id, seq, sender, client_msg_id FROM messages"))).all()
            last_seqs = dict((await conn.execute(sa.text("SELECT id, last_seq FROM conversations"))).all())
            events = (await conn.execute(sa.text(
                "SELECT event_id, customer_uid FROM processed_events WHERE source = 'shop'"))).all()
            ltv = dict((await conn.execute(sa.text(
                "SELECT uid, ltv_cents FROM customers WHERE uid IS NOT NULL"))).all())
    finally:
        await engine.dispose()
    return messages, last_seqs, events, ltv


async def test_after_sigkill_under_load_every_acked_message_and_2xx_event_is_stored_exactly_once(
    db_url: str, write_config: Callable[..., Path]
) -> None:
    cfg = write_config(CONFIG, db_url=db_url)
    rng = random.Random(f"{SEED}-{db_url.split(':')[0]}")
    ledger = Ledger(SEED)

    hosts: list[HostProcess] = []
    rounds: list[Round] = []
    tokens: list[str] = []
    try:
        for number in range(ROUNDS):
            started = time.monotonic()
            host = HostProcess(cfg, env=ENV)  # on what the previous kill left
            hosts.append(host)
            host.wait_listening()
            print(f"host listening after {time.monotonic() - started:.2f} s")
            async with aiohttp.ClientSession() as session:
                while len(tokens) < VISITORS:
                    async with session.post(f"{host.url}/api/visitor/sessions", json={}) as response:
                        assert response.status == 201
                        tokens.append((await response.json())["token"])
            rounds.append(await _run_round(number, host, ledger, rng, tokens))

        last = HostProcess(cfg, env=ENV)  # comes up on what the last kill left, and stops cleanly
        hosts.append(last)
        last.wait_listening()
        async with aiohttp.ClientSession() as session:
            assert (await session.get(f"{last.url}/readyz")).status == 200
        last.proc.send_signal(signal.SIGTERM)
        assert await last.exited() == 0
    finally:
        for host in hosts:
            host.kill()

    messages, last_seqs, events, ltv = await _stored(db_url)
    seed = f"seed {SEED}"
    visitor_rows = [m for m in messages if m.sender == "visitor"]
    copies = Counter(m.client_msg_id for m in visitor_rows)
    assert [c for c, n in copies.items() if n > 1] == [], f"{seed}: messages stored twice"
    stored = {m.client_msg_id: Ack(m.conversation_id, m.id, m.seq) for m in visitor_rows}
    missing = {c: a for c, a in ledger.acks.items() if stored.get(c) != a}
    assert missing == {}, f"{seed}: acked, but not stored as acked (stored: {[stored.get(c) for c in missing]})"
    seqs: dict[int, list[int]] = defaultdict(list)
    for m in messages:
        seqs[m.conversation_id].append(m.seq)
    for conversation, numbers in seqs.items():  # no gaps, no repeats, and the conversation knows its last one
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), f"{seed}: conversation {conversation}"
        assert last_seqs[conversation] == len(numbers), f"{seed}: conversation {conversation}"

    recorded = Counter(e.event_id for e in events)
    assert [e for e, n in recorded.items() if n > 1] == []
    assert ledger.events_2xx - set(recorded) == set(), f"{seed}: a 2xx event is not recorded"
    assert set(recorded) <= set(ledger.events)
    expected: Counter[str] = Counter()
    for event_id in recorded:  # every recorded event's amount counted once, and nothing else
        uid, cents = ledger.events[event_id]
        expected[uid] += cents
    assert {uid: ltv.get(uid, 0) for uid in UIDS} == {uid: expected[uid] for uid in UIDS}, seed

    # the kills were under load: every round reached its thresholds, and sends were in flight when it died
    assert all(r.acks >= r.kill_after_acks and r.events_2xx >= r.kill_after_events for r in rounds)
    assert sum(r.unanswered for r in rounds) > 0
