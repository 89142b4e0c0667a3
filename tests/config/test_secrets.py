"""No signing secret is ever empty: missing ones are generated once into a private file, empty ones are refused."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from kefu_host.config import ConfigError, load_config, secure_config
from kefu_host.config.secrets import secrets_path

ROOT = Path(__file__).resolve().parents[2]


def bare_config(tmp_path: Path, extra: str = "", db_url: str | None = None) -> Path:
    """A kefu.toml with no [secrets] at all."""
    (tmp_path / "rules").mkdir(exist_ok=True)
    path = tmp_path / "kefu.toml"
    path.write_text(textwrap.dedent(f"""
        [server]
        port = 0
        [database]
        url = "{db_url or "sqlite+aiosqlite:///data/kefu.db"}"
        [rules]
        allow_empty = true
        """) + textwrap.dedent(extra), encoding="utf-8")
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(customer_id: int) -> list[str]:
    """Visitor tokens anyone can make when the signing key is empty: the old format, and a JWT."""
    body = _b64(json.dumps({"v": "intruder", "c": customer_id, "u": None, "exp": 2**40}).encode())
    old_format = f"{body}.{_b64(hmac.new(b'', body.encode(), hashlib.sha256).digest())}"
    claims = {"iss": "kefu-host", "aud": "kefu-visitor", "sub": "intruder", "cid": customer_id, "iat": 0, "exp": 2**40}
    signed = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
    as_jwt = f"{signed}.{_b64(hmac.new(b'', signed.encode(), hashlib.sha256).digest())}"  # PyJWT refuses empty keys
    return [old_format, as_jwt]


def test_a_first_start_generates_the_secrets_into_a_private_file_beside_the_database(tmp_path: Path) -> None:
    config = load_config(bare_config(tmp_path), environ={})
    assert config.secrets.visitor_token is None  # not configured; nothing made up while loading

    secured, report = secure_config(config)
    path = tmp_path / "data" / "kefu.secrets.toml"
    assert report is not None and report.path == path
    assert set(report.generated) == {"visitor_token", "identity", "admin_token"} and report.loaded == ()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = [secured.secrets.visitor_token, secured.secrets.identity, secured.secrets.admin_token]
    assert len(set(values)) == 3 and all(v and len(v) >= 40 for v in values)
    assert all(v in path.read_text() for v in values)

    again, report = secure_config(load_config(bare_config(tmp_path), environ={}))  # the next start
    assert report is not None and report.generated == ()
    assert set(report.loaded) == {"visitor_token", "identity", "admin_token"}
    assert [again.secrets.visitor_token, again.secrets.identity, again.secrets.admin_token] == values


def test_configured_secrets_win_and_the_file_only_fills_gaps(tmp_path: Path) -> None:
    secure_config(load_config(bare_config(tmp_path), environ={}))
    configured = load_config(bare_config(tmp_path), environ={"KEFU_SECRETS__IDENTITY": "from-the-environment"})
    secured, report = secure_config(configured)
    assert secured.secrets.identity == "from-the-environment"
    assert report is not None and set(report.loaded) == {"visitor_token", "admin_token"}


def test_a_secret_missing_from_an_older_file_is_added_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "kefu.secrets.toml"
    path.parent.mkdir()
    path.write_text('visitor_token = "kept-from-before-0123456789"\n')
    path.chmod(0o600)
    secured, report = secure_config(load_config(bare_config(tmp_path), environ={}))
    assert secured.secrets.visitor_token == "kept-from-before-0123456789"
    assert report is not None and set(report.generated) == {"identity", "admin_token"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "kept-from-before-0123456789" in path.read_text()


def test_processes_starting_at_once_end_up_with_the_same_secrets(tmp_path: Path) -> None:
    config = load_config(bare_config(tmp_path), environ={})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: secure_config(config)[0].secrets, range(8)))
    assert len({(s.visitor_token, s.identity, s.admin_token) for s in results}) == 1


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    config = load_config(bare_config(tmp_path), environ={})
    secure_config(config)
    path = secrets_path(config)
    assert path is not None
    path.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        secure_config(config)
    assert str(info.value) == f"{path}: readable by other users (mode 0644); chmod 600 it"


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        ('[secrets]\nvisitor_token = ""\n', {},
         "kefu.toml: secrets.visitor_token: must not be empty (remove the key to have the host generate one)"),
        ("", {"KEFU_SECRETS__IDENTITY": "  "},
         "environment variable KEFU_SECRETS__IDENTITY: secrets.identity: must not be empty "
         "(remove the key to have the host generate one)"),
        ('[secrets]\nadmin_token = ""\n', {},
         "kefu.toml: secrets.admin_token: must not be empty (to turn the admin API off set auth.admin_api = false)"),
        ('[secrets]\nvisitor_token = "short"\n', {}, "kefu.toml: secrets.visitor_token: must be at least 16 characters"),
        ('[secrets]\nvisitor_token_previous = [""]\n', {},
         "kefu.toml: secrets.visitor_token_previous[0]: must not be empty"),
        ('[events.sources.shop]\nsecrets = ["whsec_x", ""]\n', {},
         "kefu.toml: events.sources.shop.secrets[1]: must not be empty (anyone could sign with it)"),
    ],
)
def test_an_empty_signing_secret_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, environ: dict[str, str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    bare_config(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config("kefu.toml", environ=environ)
    assert str(info.value) == expected


def test_an_empty_secret_stops_the_cli_with_one_line_and_exit_2(tmp_path: Path) -> None:
    bare_config(tmp_path, '[secrets]\nvisitor_token = ""\n')
    result = subprocess.run([sys.executable, "-m", "kefu_host", "--config", "kefu.toml", "plugins"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("kefu-host: kefu.toml: secrets.visitor_token: must not be empty "
                             "(remove the key to have the host generate one)\n")


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "kefu.example.com"])
def test_the_shipped_development_secrets_stay_on_loopback(host: str) -> None:
    shipped = load_config(ROOT / "kefu.toml", environ={}, overrides={"server.host": host})
    with pytest.raises(ConfigError) as info:
        secure_config(shipped)
    assert str(info.value) == (
        f"{ROOT / 'kefu.toml'}: secrets.visitor_token: a development secret (dev-...) while server.host is "
        f"{host!r}; set a real one (KEFU_SECRETS__VISITOR_TOKEN) or start with --insecure-dev"
    )
    insecure = load_config(ROOT / "kefu.toml", environ={"KEFU_AUTH__INSECURE_DEV": "true"},
                           overrides={"server.host": host})
    assert secure_config(insecure)[0].secrets.visitor_token == "dev-visitor-token-secret-change-me"


def test_the_shipped_events_secret_stays_on_loopback_too() -> None:
    """The bundled source (``events.sources.shop``) signs with a development secret so docs/events.md's sender runs
    against the quickstart host; set real host secrets and it is still refused off loopback."""
    real = {f"KEFU_SECRETS__{k}": "r" * 24 for k in ("VISITOR_TOKEN", "IDENTITY", "ADMIN_TOKEN")}
    shipped = load_config(ROOT / "kefu.toml", environ=real, overrides={"server.host": "10.0.0.5"})
    assert shipped.events.sources["shop"].secrets == ("dev-events-secret-change-me",)
    with pytest.raises(ConfigError) as info:
        secure_config(shipped)
    assert str(info.value) == (
        f"{ROOT / 'kefu.toml'}: events.sources.shop.secrets[0]: a development secret (dev-...) while server.host is "
        "'10.0.0.5'; set a real one (KEFU_EVENTS__SOURCES__SHOP__SECRETS) or start with --insecure-dev"
    )
    ours = load_config(ROOT / "kefu.toml", environ={**real, "KEFU_EVENTS__SOURCES__SHOP__SECRETS": '["whsec_bXlzZWNyZXQ="]'},
                       overrides={"server.host": "10.0.0.5"})
    assert secure_config(ours)[0].events.sources["shop"].secrets == ("whsec_bXlzZWNyZXQ=",)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.53"])
def test_development_secrets_on_loopback_start(host: str) -> None:
    shipped = load_config(ROOT / "kefu.toml", environ={}, overrides={"server.host": host})
    assert secure_config(shipped)[0] == shipped


def test_the_cli_refuses_development_secrets_on_every_interface_unless_told(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kefu_host", "--config", str(ROOT / "kefu.toml"), "--host", "0.0.0.0",
         "--db", f"sqlite+aiosqlite:///{tmp_path}/kefu.db"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"kefu-host: {ROOT / 'kefu.toml'}: secrets.visitor_token: a development secret (dev-...) while server.host "
        "is '0.0.0.0'; set a real one (KEFU_SECRETS__VISITOR_TOKEN) or start with --insecure-dev"
    ]
    assert "--insecure-dev" in subprocess.run([sys.executable, "-m", "kefu_host", "--help"], capture_output=True,
                                              text=True, timeout=60).stdout


def test_with_postgresql_missing_secrets_must_come_from_the_environment_or_a_named_file(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://kefu@127.0.0.1/kefu"  # never connected to: secrets are settled before the store
    config = load_config(bare_config(tmp_path, db_url=url), environ={})
    with pytest.raises(ConfigError) as info:
        secure_config(config)
    assert str(info.value) == (
        f"{tmp_path / 'kefu.toml'}: secrets.visitor_token: not set; with PostgreSQL every process must share it: "
        "set it from the environment (KEFU_SECRETS__VISITOR_TOKEN) or name a shared auth.secrets_file"
    )
    environ = {f"KEFU_SECRETS__{k}": "x" * 20 for k in ("VISITOR_TOKEN", "IDENTITY", "ADMIN_TOKEN")}
    assert secure_config(load_config(bare_config(tmp_path, db_url=url), environ=environ))[1] is None
    shared = load_config(bare_config(tmp_path, '[auth]\nsecrets_file = "shared/kefu.secrets.toml"\n', db_url=url),
                         environ={})
    secured, report = secure_config(shared)
    assert report is not None and report.path == tmp_path / "shared" / "kefu.secrets.toml"
    assert secured.secrets.visitor_token


async def test_visitor_tokens_forged_with_an_empty_key_are_refused_and_real_ones_survive_a_restart(
    tmp_path: Path, start_app: Callable[..., Any]
) -> None:
    config = load_config(bare_config(tmp_path), environ={})
    with structlog.testing.capture_logs() as logs:
        first = await start_app(config=config)
    said = [e for e in logs if e["event"] == "generated secrets that the configuration does not set"]
    assert said == [{"event": "generated secrets that the configuration does not set", "log_level": "warning",
                     "keys": ["visitor_token", "identity", "admin_token"],
                     "kept_in": str(tmp_path / "data" / "kefu.secrets.toml")}]  # names, never values
    session = await (await first.post("/api/visitor/sessions")).json()
    ws = await first.ws_connect(f"/ws/visitor?token={session['token']}")
    await ws.send_json({"type": "send", "client_msg_id": "m1", "body": "my address is 1 Secret Road"})
    while (await ws.receive_json())["type"] != "ack":
        pass
    await ws.close()
    cid = (await (await first.ws_connect(f"/ws/visitor?token={session['token']}")).receive_json())["conversation_id"]

    for forged in forged_tokens(session["customer_id"]):
        history = await first.get(f"/api/conversations/{cid}/messages", headers={"Authorization": f"Bearer {forged}"})
        assert history.status == 401, await history.text()
        socket = await first.get(f"/ws/visitor?token={forged}")
        assert socket.status == 401

    restarted = await start_app(config=load_config(bare_config(tmp_path), environ={}))  # reads the secrets file
    history = await restarted.get(f"/api/conversations/{cid}/messages",
                                  headers={"Authorization": f"Bearer {session['token']}"})
    assert history.status == 200
    assert [m["body"] for m in (await history.json())["messages"]] == ["my address is 1 Secret Road"]
    assert os.path.exists(tmp_path / "data" / "kefu.secrets.toml")
