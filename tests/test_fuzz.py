"""A bounded, seeded fuzz of everything a client can reach: every HTTP route of the app (plugin routes included),
the WebSocket handshakes, and visitor and agent frames, on SQLite and PostgreSQL.

What must hold, whatever is sent: no HTTP answer is a 5xx, and every 4xx carries the documented JSON error; a
socket is never dropped without a close code (an ``error`` frame, or a close code docs/protocol.md lists); every
error frame's code is one the docs list; and afterwards the host still serves a canary (a visitor's message is
stored and acked, an agent receives it, ``/readyz`` is 200).

Values are valid-looking (made from the event and action JSON Schemas and from example bodies) and hostile: integers
past 64 bits, Unicode digits, 5,000-digit numbers, NUL, non-ASCII and invalid UTF-8 (in headers too), wrong types,
deep nesting, huge strings. ``KEFU_FUZZ_SEED`` replays a run (the seed is printed with every failure);
``KEFU_FUZZ_CASES`` sets the cases per surface.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from aiohttp import web
from yarl import URL

from kefu_host.chat.accounts import add_agent
from kefu_host.chat.tokens import identity_hash
from kefu_host.config import load_config
from kefu_host.events.signing import sign
from kefu_host.keys import CHAT, EVENTS, STORE
from kefu_host.testing.clients import AgentClient, VisitorClient
from tests.conftest import ADMIN_TOKEN, RawAnswer, raw_request
from tests.events.conftest import SECRET, SOURCES
from tests.plugins.conftest import ROOT, plugin_path

SEED = int(os.environ.get("KEFU_FUZZ_SEED", "20261201"))
CASES = int(os.environ.get("KEFU_FUZZ_CASES", "300"))
TEAMS = ("support", "vip", "risk-control", "backup", "en-desk", "billing")
WAIT = 10.0  # upper bound on any one answer; a healthy host answers in milliseconds


# --- what the docs promise --------------------------------------------------------------------------------------


def _documented_codes(heading: str) -> frozenset[str]:
    """The codes in the first column of the table that follows ``heading`` in docs/protocol.md."""
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    codes: set[str] = set()
    in_table = False
    for line in text.split(heading, 1)[1].splitlines():
        if line.startswith("|"):
            in_table = True
            first = line.split("|")[1]
            codes.update(re.findall(r"`([^`]+)`", first) or re.findall(r"^\s*(\d{4})\s*$", first))
        elif in_table:
            break
    assert codes, f"no table after {heading!r} in docs/protocol.md"
    return frozenset(codes)


ERROR_CODES = _documented_codes("Error frames (`type: \"error\"`), the socket stays open:")
CLOSE_CODES = frozenset(int(c) for c in _documented_codes("Close codes:"))


# --- hostile and valid-looking values ----------------------------------------------------------------------------


class Raw(str):
    """JSON text put into a body as is: what a JSON encoder would refuse to write (lone surrogates, 5,000 digits)."""


RAW_JSON = [
    Raw('"\\ud800"'), Raw('"a\\udc00b"'), Raw("1" * 5000), Raw("-" + "9" * 4400), Raw("1e400"), Raw("-1e400"),
    Raw("NaN"), Raw("Infinity"), Raw("9223372036854775808"), Raw("18446744073709551615"),
    Raw("18446744073709551616"), Raw("-9223372036854775809"), Raw("[" * 1500 + "]" * 1500),
    Raw('{"a":' * 400 + "1" + "}" * 400), Raw("0.1e-400"), Raw("-0"),
]
BIG_NUMBERS: list[Any] = [
    2**63, 2**63 - 1, 2**64 - 1, -(2**63) - 1, -(2**63), 2**31, 2**31 - 1, -(2**31) - 1, 10**17, 10**30,
    1e17, 9.2e16, 92233720368547758.07, 1e19, 1e308, -1e308, 5e-324, 1.5, -0.5, 0, -1,
]
TEXTS: list[str] = [
    "", " ", "\x00", "a\x00b", "\u0000" * 3, "é", "中文", "²", "١٢٣", "１２", "𝟙𝟚", "٣:٤", "\u202e", "\r\n", "\t",
    "\ufeff", "\U0001f600", "💩" * 10, "A" * 300, "长" * 5000, "x" * 70_000, "9" * 5000, "1" + "0" * 4400,
    str(2**63), str(2**64), str(-(2**63) - 1), "-1", "0", "1", "007", "+5", " 5", "5 ", "1_000", "0x10", "1e3",
    "1.5", "NaN", "inf", "null", "true", "[]", "{}", "%00", "%ff", "../../etc/passwd", "' OR 1=1 --",
    "<script>alert(1)</script>", "kfa_1_x", "kfa_" + "9" * 30 + "_x", "kfa_²_x", "kfa_-1_x", "v1,é", "v1,",
    "whsec_é", "1:2,3:4", "1:²", f"{2**63}:1", f"1:{2**63}", f"1:{10**30}", ":", ",,,", "online", "away",
    "open", "support", "vip", "\\", '"', "a" * 191, "a" * 192,
]
URL_TEXTS = [t for t in TEXTS if len(quote(t, safe="")) <= 5000]
WRONG_TYPES: list[Any] = [None, True, False, [], {}, [1, 2], {"a": 1}, [None], [[[]]], {"": None}]


class Values:
    """Every random choice of one fuzz run, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def text(self) -> str:
        return self.rng.choice(TEXTS)

    def url_text(self) -> str:
        """A text for a path or query: mostly short enough that the request line reaches the app (8 KB)."""
        return self.rng.choice(TEXTS if self.chance(0.05) else URL_TEXTS)

    def scalar(self) -> Any:
        kind = self.rng.randrange(4)
        if kind == 0:
            return self.rng.choice(BIG_NUMBERS)
        if kind == 1:
            return self.text()
        if kind == 2:
            return copy.deepcopy(self.rng.choice(WRONG_TYPES))  # a copy: mutations write into what they get
        return self.rng.choice(RAW_JSON)

    def hostile(self, depth: int = 0) -> Any:
        roll = self.rng.random()
        if depth < 3 and roll < 0.12:
            return [self.hostile(depth + 1) for _ in range(self.rng.randrange(4))]
        if depth < 3 and roll < 0.24:
            return {self._key(): self.hostile(depth + 1) for _ in range(self.rng.randrange(4))}
        return self.scalar()

    def _key(self) -> str:
        return self.rng.choice(["type", "id", "data", "uid", "body", "seq", "a", *TEXTS[:12]])

    def mutate(self, value: Any, rounds: int | None = None) -> Any:
        """A copy of ``value`` with a few leaves replaced, keys added or removed, or the whole replaced."""
        out = copy.deepcopy(value)
        for _ in range(rounds if rounds is not None else self.rng.randrange(1, 4)):
            out = self._mutate_once(out)
        return out

    def _mutate_once(self, value: Any) -> Any:
        if self.chance(0.05):
            return self.hostile()
        paths = list(_paths(value))
        if not paths:
            return self.hostile()
        path = self.rng.choice(paths)
        parent, key = _walk(value, path[:-1]), path[-1] if path else None
        if key is None:
            return self.hostile()
        action = self.rng.randrange(10)
        if action == 0 and isinstance(parent, dict):
            parent.pop(key, None)
        elif action == 1 and isinstance(parent, dict):
            parent[self._key()] = self.hostile()
        else:
            parent[key] = self.hostile()
        return value

    def from_schema(self, schema: Any, depth: int = 0) -> Any:
        """A value that fits a JSON Schema (as far as this simple reading goes): the valid-looking start."""
        if not isinstance(schema, dict):
            return None
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.from_schema(self.rng.choice(schema[key]), depth)
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = self.rng.choice(kind)
        if kind == "object":
            props = schema.get("properties", {})
            required = set(schema.get("required", ()))
            return {
                name: self.from_schema(sub, depth + 1)
                for name, sub in props.items()
                if name in required or (depth < 3 and self.chance(0.5))
            }
        if kind == "array":
            return [self.from_schema(schema.get("items", {}), depth + 1) for _ in range(self.rng.randrange(3))]
        if kind == "integer":
            low = schema.get("minimum", 0)
            high = schema.get("maximum", low + 1000)
            return self.rng.randint(int(low), int(high))
        if kind == "number":
            return round(self.rng.uniform(0.01, 5000), 2)
        if kind == "boolean":
            return self.chance(0.5)
        pattern = schema.get("pattern")
        candidates = ["12.50", "CNY", "7", "u-fuzz", "O-1", "hello"]
        if pattern:
            fitting = [c for c in candidates if re.search(pattern, c)]
            if fitting:
                return self.rng.choice(fitting)
        return self.rng.choice(["u-fuzz", "hello", "O-1", "A1", "李雷"])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield (*prefix, n)
            yield from _paths(inner, (*prefix, n))


def _walk(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def encode(value: Any, ascii_only: bool = False) -> str:
    """JSON text for ``value``, with :class:`Raw` fragments as they are; ``ascii_only`` escapes as ``\\uXXXX``."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=ascii_only)}:{encode(v, ascii_only)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


# --- findings --------------------------------------------------------------------------------------------------


@dataclass
class Findings:
    surface: str
    items: list[str] = field(default_factory=list)

    def add(self, case: int, what: str, sent: Any) -> None:
        shown = repr(sent)
        if len(shown) > 300:
            shown = shown[:300] + f"... ({len(shown)} chars)"
        self.items.append(f"case {case}: {what}\n    sent: {shown}")

    def check(self) -> None:
        assert not self.items, (
            f"{len(self.items)} finding(s) on {self.surface} (replay with KEFU_FUZZ_SEED={SEED} "
            f"KEFU_FUZZ_CASES={CASES}):\n" + "\n".join(self.items[:40])
        )


# --- the host under fuzz ---------------------------------------------------------------------------------------


class FuzzHost:
    """The app with the three bundled plugins and the shipped rules, plus what the fuzz needs to get in."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.app = client.app
        self.visitor_tokens: list[str] = []
        self.agent_tokens: list[str] = []
        self.conversation_ids: list[int] = []

    @property
    def address(self) -> tuple[str, int]:
        server = self.client.server
        return str(server.host), int(server.port)

    async def add_agent(self, name: str, capacity: int = 50) -> str:
        token = await add_agent(self.app[STORE], name, list(TEAMS), capacity)
        self.agent_tokens.append(token)
        return token

    async def visitor_token(self, uid: str | None = None) -> str:
        body = {"user_id": uid, "user_hash": identity_hash("test-identity-secret", uid)} if uid else {}
        response = await self.client.post("/api/visitor/sessions", json=body)
        assert response.status == 201, await response.text()
        token = str((await response.json())["token"])
        self.visitor_tokens.append(token)
        return token

    async def visitor(self, token: str, probed: bool = False) -> VisitorClient:
        """A visitor socket past its welcome; ``probed`` ones leave protocol pongs to :func:`_usable`."""
        client = VisitorClient(await self.client.ws_connect(f"/ws/visitor?token={token}", autoping=not probed))
        await client.expect("welcome")
        return client

    async def agent(self, token: str, probed: bool = False) -> AgentClient:
        client = AgentClient(await self.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {token}"},
                                                          autoping=not probed))
        await client.expect("welcome")
        return client

    async def canary(self) -> None:
        """The host still works after the fuzz: a new visitor's message is stored, acked and reaches an agent."""
        agent = await self.agent(await self.add_agent("canary-agent", capacity=1000))
        visitor = await self.visitor(await self.visitor_token())
        ack = await visitor.say("canary: are you still there?")
        assert ack["duplicate"] is False
        assigned = await agent.expect("assigned", timeout=WAIT)
        while assigned["conversation"]["id"] != ack["conversation_id"]:
            assigned = await agent.expect("assigned", timeout=WAIT)
        assert "canary: are you still there?" in [m["body"] for m in assigned["messages"]]
        stored = await self.app[CHAT].service.repo.messages_after(ack["conversation_id"], 0, 10)
        assert "canary: are you still there?" in [m.body for m in stored]
        ready = await self.client.get("/readyz")
        assert ready.status == 200, await ready.text()
        await visitor.close()
        await agent.close()


def _closed_port() -> int:
    """A loopback port with nothing listening: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fuzz_host(
    start_app: Callable[..., Any], write_config: Callable[..., Path], db_url: str
) -> Callable[..., Any]:
    async def start() -> FuzzHost:
        path = write_config(SOURCES, db_url=db_url)
        text = path.read_text(encoding="utf-8")
        base_teams = 'teams = ["support", "vip", "risk-control", "backup", "en-desk"]'
        assert base_teams in text, "the base test config changed its teams"
        path.write_text(text.replace(base_teams, f"teams = {json.dumps(list(TEAMS))}"), encoding="utf-8")
        rules = path.parent / "rules"
        shutil.rmtree(rules)
        shutil.copytree(ROOT / "rules", rules)
        unreachable = f"http://127.0.0.1:{_closed_port()}"  # ERP and payment provider calls fail fast
        plugin_db = {"dsn": db_url} if db_url.startswith("postgresql") else {}  # the plugins' tables there too
        plugins = [
            (plugin_path("ticket"), plugin_db),
            (plugin_path("erp"), {"base_url": unreachable, "timeout": 1.0}),
            (plugin_path("payments"), {"provider_url": unreachable, "timeout": 1.0, **plugin_db}),
        ]
        # no rate limits: the fuzz is after what a request or frame does, not how often one may come (hundreds of
        # bad credentials from 127.0.0.1 would otherwise lock the canary out with 429)
        config = load_config(path, environ={"KEFU_CHAT__VISITOR_RATE": "100000", "KEFU_CHAT__VISITOR_BURST": "100000",
                                            "KEFU_AUTH__MAX_FAILURES": "1000000"})
        host = FuzzHost(await start_app(config=config, plugins=plugins))
        print(f"fuzzing with KEFU_FUZZ_SEED={SEED} KEFU_FUZZ_CASES={CASES} on {db_url.split(':')[0]}")
        agent = await host.agent(await host.add_agent("fuzz-agent"))
        for uid in (None, "u-fuzz-1"):
            visitor = await host.visitor(await host.visitor_token(uid))
            ack = await visitor.say("hello, I need help")
            host.conversation_ids.append(int(ack["conversation_id"]))
            await visitor.close()
        await agent.close()
        return host

    return start


# --- HTTP ------------------------------------------------------------------------------------------------------


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route, sub-applications (plugin routes) included."""
    out: list[tuple[str, str]] = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a sub-application's resources already carry its prefix
            out += app_routes(info["app"])
            continue
        for route in resource:
            if route.method != "*":
                out.append((route.method, resource.canonical))
    return sorted(set(out))


class HttpCases:
    """Requests for each route: path, query, headers and body, valid-looking or hostile."""

    QUERY_NAMES = ("after_seq", "limit", "uid", "status", "token", "last_seq", "resume", "presence", "force", "id")

    def __init__(self, values: Values, host: FuzzHost) -> None:
        self.v = values
        self.host = host
        types = host.app[EVENTS].types
        self.event_types = {name: t.schema for name, t in types.items()}

    def path_value(self) -> str:
        v = self.v
        roll = v.rng.random()
        if roll < 0.3:
            return str(v.rng.choice(self.host.conversation_ids))
        if roll < 0.85:
            return quote(v.url_text(), safe="")
        return v.rng.choice(["%ff", "%00", "%C0%AF", "%e9", "1%00", "%2e%2e", "9" * 5000, str(2**63)])

    def query(self) -> str:
        v = self.v
        pairs = []
        for _ in range(v.rng.randrange(4)):
            name = v.rng.choice(self.QUERY_NAMES) if v.chance(0.85) else quote(v.url_text(), safe="")
            if name == "token" and v.chance(0.5):
                value = v.rng.choice([*self.host.visitor_tokens, *self.host.agent_tokens])
            elif v.chance(0.9):
                value = quote(v.url_text(), safe="")
            else:
                value = v.rng.choice(["%ff", "%00"])  # an undecodable byte, NUL
            pairs.append(f"{name}={value}")
        return "&".join(pairs)

    def authorization(self) -> bytes | None:
        v = self.v
        roll = v.rng.random()
        if roll < 0.15:
            return None
        if roll < 0.45:
            return f"Bearer {ADMIN_TOKEN}".encode()
        if roll < 0.6:
            return f"Bearer {v.rng.choice(self.host.visitor_tokens)}".encode()
        if roll < 0.7:
            return f"Bearer {v.rng.choice(self.host.agent_tokens)}".encode()
        if roll < 0.85:
            return b"Bearer " + v.text().encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")[:8000]
        return v.rng.choice([b"Bearer \xff\xfe", b"Bearer kfa_1_\xff", b"Bearer \xe9", b"\xff", b"Bearer kfa_" +
                             b"9" * 25 + b"_x", b"bearer  ", b"Basic \xc3\xa9"])

    def body(self, path: str) -> Any:
        v = self.v
        if path == "/api/visitor/sessions":
            uid = v.rng.choice(["u-1", "u-fuzz-1", "李雷"])
            start = v.rng.choice([{}, {"user_id": uid, "user_hash": identity_hash("test-identity-secret", uid),
                                       "name": "Li Lei", "email": "li@example.com", "phone": "123",
                                       "avatar_url": "https://x.example/a.png"}])
        elif path == "/api/events":
            start = self.envelope()
        elif path == "/api/events/batch":
            start = {"events": [self.envelope() for _ in range(v.rng.randrange(1, 5))]}
        elif path == "/api/rules/explain":
            start = {"facts": {"customer.ltv": 100, "customer.vip_level": 1, "message.text": "hello",
                               "customer.tags": ["a"], "queue.length": {"support": 3}, "time.hour": 9}}
            if v.chance(0.2):
                start["files"] = {"extra.rule": 'rule fuzz.x priority 1\n  when true\n  then tag "x"\nend\n'}
        elif path == "/api/rules/reload":
            start = {"force": v.chance(0.5)}
        else:
            start = {"a": 1}
        return start if v.chance(0.15) else v.mutate(start)

    def envelope(self) -> dict[str, Any]:
        name = self.v.rng.choice(sorted(self.event_types))
        data = self.v.from_schema(self.event_types[name])
        if isinstance(data, dict) and "uid" in data:
            data["uid"] = self.v.rng.choice(["u-fuzz-1", "u-fuzz-2", "u-new"])
        return {"id": f"evt_fuzz_{self.v.rng.getrandbits(48):x}", "type": name,
                "occurred_at": self.v.rng.choice(["2026-01-01T00:00:00Z", "2026-06-01T10:00:00+08:00"]),
                "data": data}

    def encoded_body(self, path: str) -> bytes:
        v = self.v
        roll = v.rng.random()
        if roll < 0.05:
            return v.rng.choice([b"", b"\xff\xfe{", b'{"a": ', b"null", b"[]", b'"x"', b"\x00", b"{}" * 3])
        text = encode(self.body(path), ascii_only=v.chance(0.3))
        return text.encode("utf-8", "surrogatepass")

    def signature_headers(self, body: bytes) -> list[tuple[bytes, bytes]]:
        v = self.v
        msg_id = f"msg_{v.rng.getrandbits(32):x}"
        signed = {k.encode(): val.encode() for k, val in sign(SECRET, msg_id, body).items()}
        roll = v.rng.random()
        if roll < 0.7:
            pass
        elif roll < 0.8:
            signed[b"webhook-signature"] = v.rng.choice([b"v1,\xc3\xa9", b"v1,\xff", b"v1,", b"v2,abc", b"v1,\xe9 v1,x"])
        elif roll < 0.9:
            signed[b"webhook-timestamp"] = v.rng.choice(
                [b"\xc2\xb2", b"9" * 5000, str(10**30).encode(), b"-1", b"1e9", b"\xff", b"NaN"])
        else:
            signed[b"webhook-id"] = v.rng.choice([b"\xff", b"\xc3\xa9", b"a\x01b", b"x" * 5000])
        return list(signed.items())

    def request(self, method: str, template: str) -> tuple[str, bytes, list[tuple[bytes, bytes]], bytes]:
        v = self.v
        path = re.sub(r"\{[^}]+\}", lambda _: self.path_value(), template)
        query = self.query()
        target = (path + ("?" + query if query else "")).encode("utf-8", "surrogatepass")
        headers: list[tuple[bytes, bytes]] = []
        auth = self.authorization()
        if auth is not None:
            headers.append((b"Authorization", auth))
        if v.chance(0.2):
            headers.append((b"Origin", v.rng.choice([b"http://visitor.example", b"https://evil.example", b"\xff",
                                                     b"null"])))
        if v.chance(0.2):
            headers.append((b"X-Request-Id", v.rng.choice([b"\xff\xfe", b"r" * 200, "é".encode(), b"ok-1"])))
        if template.startswith("/ws/") and v.chance(0.5):
            headers += [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"Sec-WebSocket-Version", b"13")]
        body = b""
        if method == "POST":
            body = self.encoded_body(template)
            headers.append((b"Content-Type", b"application/json" if v.chance(0.9) else b"text/plain; charset=\xff"))
            if v.chance(0.9):
                headers += self.signature_headers(body)
        return method, target, headers, body


def _json_error(answer: RawAnswer) -> bool:
    try:
        error = orjson.loads(answer.body)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)


async def test_no_http_request_gets_a_5xx(fuzz_host: Callable[..., Any]) -> None:
    host = await fuzz_host()
    routes = app_routes(host.app)
    assert ("GET", "/plugins/ticket/tickets/{id}") in routes  # the plugins' routes are fuzzed too
    rng = random.Random(f"{SEED}:http")
    cases = HttpCases(Values(rng), host)
    findings = Findings("HTTP")
    for case in range(CASES * 2):
        method, template = rng.choice(routes)
        method, target, headers, body = cases.request(method, template)
        sent = (method, target, headers, body[:400])
        try:
            answer = await raw_request(host.address, method, target, headers, body, timeout=WAIT)
        except (TimeoutError, ConnectionError, IndexError, ValueError, asyncio.IncompleteReadError) as exc:
            findings.add(case, f"no HTTP answer ({type(exc).__name__}: {exc})", sent)
            continue
        if answer.status >= 500:
            findings.add(case, f"{answer.status} {answer.body[:300]!r}", sent)
        elif 400 <= answer.status < 500 and method != "HEAD" and "x-request-id" in answer.headers and (
            not _json_error(answer)
        ):  # (answers without a request id come from the HTTP parser, before the app sees the request)
            findings.add(case, f"{answer.status} without the JSON error shape: {answer.body[:200]!r}", sent)
    await host.canary()
    findings.check()


# --- WebSocket handshakes --------------------------------------------------------------------------------------


async def _usable(ws: aiohttp.ClientWebSocketResponse) -> str | None:
    """None when the socket answers a protocol ping (so every frame sent before it was handled, in order, and every
    frame it sent back is JSON with a documented error code); else what went wrong."""
    probe = os.urandom(8)
    try:
        await ws.ping(probe)
    except ConnectionError:
        pass  # closed under us: the next receive says how
    while True:
        try:
            msg = await ws.receive(timeout=WAIT)
        except TimeoutError:
            return "no pong within the time limit"
        if msg.type == aiohttp.WSMsgType.PONG and msg.data == probe:
            return None
        if msg.type == aiohttp.WSMsgType.PING:  # the server's heartbeat
            await ws.pong(msg.data)
        elif msg.type == aiohttp.WSMsgType.TEXT:
            frame = orjson.loads(msg.data)
            if frame.get("type") == "error" and frame.get("code") not in ERROR_CODES:
                return f"undocumented error code {frame.get('code')!r}: {frame}"
            error = frame.get("error") if frame.get("type") == "action_result" else None
            if isinstance(error, dict) and error.get("code") == "action_failed":  # the plugin raised on its input
                return f"action {frame.get('ref')} failed inside its plugin: {error.get('message')}"
        elif msg.type != aiohttp.WSMsgType.PONG:
            return _closed(ws, msg)


def _closed(ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> str:
    code = ws.close_code
    if msg.type == aiohttp.WSMsgType.CLOSE or code is not None:
        return f"closed with {code}" if code in CLOSE_CODES else f"closed with undocumented code {code}"
    return f"dropped without a close code ({msg.type.name})"


async def test_no_handshake_query_drops_or_breaks_a_socket(fuzz_host: Callable[..., Any]) -> None:
    host = await fuzz_host()
    rng = random.Random(f"{SEED}:handshake")
    v = Values(rng)
    visitor_token = host.visitor_tokens[0]  # a visitor with a conversation
    agent_token = host.agent_tokens[0]
    findings = Findings("WebSocket handshakes")

    def value() -> str:
        return quote(v.url_text(), safe="") if v.chance(0.85) else v.rng.choice(["%ff", "%00", "9" * 5000])

    for case in range(CASES):
        headers: dict[str, str] = {}
        if v.chance(0.5):
            params = [f"token={visitor_token if v.chance(0.8) else value()}"]
            if v.chance(0.9):
                seq = v.rng.choice([value(), str(v.rng.choice(BIG_NUMBERS)), "0", "1", "2", "5"])
                params.append(f"last_seq={seq}")
            target = "/ws/visitor?" + "&".join(params)
        else:
            params = []
            if v.chance(0.8):
                headers["Authorization"] = f"Bearer {agent_token}"
            else:
                params.append(f"token={agent_token if v.chance(0.5) else value()}")
            if v.chance(0.7):
                cid = v.rng.choice(host.conversation_ids)
                parts = [v.rng.choice([f"{cid}:{value()}", f"{value()}:1", f"{cid}:{v.rng.choice(BIG_NUMBERS)}",
                                       f"{v.rng.choice(BIG_NUMBERS)}:{cid}", f"{cid}:1", value()])
                         for _ in range(v.rng.randrange(1, 4))]
                params.append("resume=" + ",".join(parts))
            if v.chance(0.5):
                params.append(f"presence={v.rng.choice(['online', 'away', value()])}")
            target = "/ws/agent?" + "&".join(params)
        try:
            ws = await host.client.ws_connect(URL(target, encoded=True), headers=headers, autoping=False)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status >= 500:
                findings.add(case, f"handshake answered {exc.status}", target)
            continue
        except (aiohttp.ClientError, TimeoutError) as exc:
            findings.add(case, f"handshake failed: {type(exc).__name__}: {exc}", target)
            continue
        try:
            problem = await _usable(ws)
            if problem is not None and not problem.startswith("closed with ") or (
                problem is not None and "undocumented" in problem
            ):
                findings.add(case, problem, target)
        finally:
            await ws.close()
    await host.canary()
    findings.check()


# --- frames ------------------------------------------------------------------------------------------------------


MAX_BODY_CHARS = 8000  # docs/protocol.md: `body` (string, at most 8000 characters)


def _within_documented_limits(frame: Any) -> bool:
    """A ``send`` frame whose fields all fit what the docs promise to accept (so it must not close the socket)."""
    return (
        isinstance(frame, dict)
        and frame.get("type") == "send"
        and isinstance(frame.get("body"), str)
        and len(frame["body"]) <= MAX_BODY_CHARS
        and all(isinstance(v, str) and len(v) <= 100 or k in ("body", "conversation_id")
                for k, v in frame.items() if k != "type")
        and all(not isinstance(v, Raw) for v in frame.values())
    )


class FrameCases:
    def __init__(self, values: Values) -> None:
        self.v = values

    def body_text(self) -> str:
        v = self.v
        return v.rng.choice([
            "hello", "我要投诉你们诈骗", "refund please", "长" * v.rng.choice([100, 2000, 5500, 8000, 8001]),
            "x" * v.rng.choice([7999, 8000, 8001, 20000]), "a\x00b", "\x00", "é" * 3000, "💩" * 4000,
            v.text(),
        ])

    def encode(self, frame: Any) -> str:
        return encode(frame, ascii_only=self.v.chance(0.3))

    def junk(self) -> str | bytes:
        v = self.v
        return v.rng.choice([
            "not json", "[1,2,3]", "", "{", "null", '{"type": null}', '{"type": "ping"' , "\x00",
            encode(v.hostile()), b"\x00\x01", b"\xff" * 10,
        ])


async def _exchange(ws: aiohttp.ClientWebSocketResponse, payload: str | bytes) -> str | None:
    """Send one frame, then check the socket still answers (or how it was closed)."""
    try:
        if isinstance(payload, bytes):
            await ws.send_bytes(payload)
        else:
            await ws.send_str(payload)
    except ConnectionError:
        pass
    return await _usable(ws)


async def test_no_visitor_frame_drops_a_socket(fuzz_host: Callable[..., Any]) -> None:
    host = await fuzz_host()
    rng = random.Random(f"{SEED}:visitor")
    v = Values(rng)
    cases = FrameCases(v)
    findings = Findings("visitor frames")
    tokens = [host.visitor_tokens[0], host.visitor_tokens[1], await host.visitor_token()]
    sockets = [(await host.visitor(t, probed=True)).ws for t in tokens]
    for case in range(CASES):
        which = rng.randrange(len(sockets))
        roll = rng.random()
        frame: Any
        if roll < 0.1:
            payload: str | bytes = cases.junk()
            frame = payload
        else:
            frame = rng.choice([
                {"type": "send", "client_msg_id": f"c-{case}", "body": cases.body_text()},
                {"type": "send", "client_msg_id": f"c-{case}", "body": "hi"},
                {"type": "typing"}, {"type": "read", "seq": 1}, {"type": "ping"}, {"type": "close"},
            ])
            if rng.random() < 0.6:
                frame = v.mutate(frame, rounds=1)
            payload = cases.encode(frame)
        problem = await _exchange(sockets[which], payload)
        if problem is None:
            continue
        if problem.startswith("closed with ") and "undocumented" not in problem and not (
            "1009" in problem and _within_documented_limits(frame)
        ):
            pass  # a documented close (a frame over the byte limit): reconnect and go on
        else:
            findings.add(case, problem, frame)
        sockets[which] = (await host.visitor(tokens[which], probed=True)).ws
    for n, ws in enumerate(sockets):
        await ws.close()
    for n, token in enumerate(tokens):  # every fuzzed visitor can still write
        client = await host.visitor(token)
        try:
            await client.say(f"still here {n}")
        except (TimeoutError, ConnectionError) as exc:
            findings.add(-1, f"visitor {n} cannot send after the fuzz: {exc}", None)
        await client.close()
    await host.canary()
    findings.check()


async def test_no_agent_frame_drops_a_socket(fuzz_host: Callable[..., Any]) -> None:
    host = await fuzz_host()
    rng = random.Random(f"{SEED}:agent")
    v = Values(rng)
    cases = FrameCases(v)
    findings = Findings("agent frames")
    token = host.agent_tokens[0]
    agent = await host.agent(token, probed=True)
    actions = agent.frames[0]["actions"]
    assert {a["name"] for a in actions} >= {"ticket.create", "erp.inventory", "payments.refund"}

    def conversation_id() -> Any:
        return rng.choice(host.conversation_ids) if rng.random() < 0.8 else v.scalar()

    def frame_for(case: int) -> Any:
        kind = rng.choice(["send", "typing", "read", "close", "transfer", "presence", "action", "action", "ping"])
        cid = conversation_id()
        if kind == "send":
            return {"type": "send", "conversation_id": cid, "client_msg_id": f"a-{case}", "body": cases.body_text()}
        if kind in ("typing", "close"):
            return {"type": kind, "conversation_id": cid}
        if kind == "read":
            return {"type": "read", "conversation_id": cid, "seq": rng.choice([1, 2, *BIG_NUMBERS])}
        if kind == "transfer":
            return {"type": "transfer", "conversation_id": cid,
                    rng.choice(["team", "agent"]): copy.deepcopy(rng.choice([*TEAMS, "fuzz-agent", *WRONG_TYPES]))}
        if kind == "presence":
            return {"type": "presence", "status": copy.deepcopy(rng.choice(["online", "away", *WRONG_TYPES]))}
        if kind == "action":
            action = rng.choice(actions)
            frame = {"type": "action", "ref": f"r-{case}", "action": action["name"],
                     "args": v.from_schema(action["params"])}
            if rng.random() < 0.7:
                frame["conversation_id"] = cid
            return frame
        return {"type": "ping"}

    ws = agent.ws
    for case in range(CASES):
        if rng.random() < 0.08:
            frame: Any = cases.junk()
            payload: str | bytes = frame
        else:
            frame = frame_for(case)
            if rng.random() < 0.6:
                frame = v.mutate(frame, rounds=1)
            payload = cases.encode(frame)
        problem = await _exchange(ws, payload)
        if problem is None:
            continue
        if not (problem.startswith("closed with ") and "undocumented" not in problem and not (
                "1009" in problem and _within_documented_limits(frame))):
            findings.add(case, problem, frame)
        ws = (await host.agent(token, probed=True)).ws
    await ws.close()
    await host.canary()
    findings.check()
