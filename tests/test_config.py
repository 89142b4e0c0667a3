"""kefu.toml, environment overrides and the one-line errors that stop a bad start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kefu_host.config import Config, ConfigError, database_url, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_the_bundled_kefu_toml_loads_as_is() -> None:
    config = load_config(ROOT / "kefu.toml", environ={})
    assert config.database.url.startswith("sqlite+aiosqlite:///")
    assert config.chat.default_team in config.chat.teams
    assert database_url(config).startswith(f"sqlite+aiosqlite:///{ROOT}/")


def test_values_are_typed(make_config: Callable[..., Config]) -> None:
    config = make_config("[plugins.ticket]\nrequired = true\ndsn = 'sqlite:///t.db'\n")
    assert config.server.port == 0
    assert config.server.allowed_origins == ("http://visitor.example",)
    assert config.plugins.for_plugin("ticket").required is True
    assert config.plugins.for_plugin("ticket").settings == {"dsn": "sqlite:///t.db"}
    assert config.plugins.for_plugin("absent").settings == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[server]\nprot = 1\n", "kefu.toml: server.prot: unknown key, did you mean 'port'?"),
        ("[sever]\nport = 1\n", "kefu.toml: sever: unknown section, did you mean 'server'?"),
        ('[chat]\nvisitor_rate = "fast"\n', 'kefu.toml: chat.visitor_rate: expected a number, got "fast"'),
        ("[chat]\nmax_replay = 1.5\n", "kefu.toml: chat.max_replay: expected an integer, got number 1.5"),
        ('[server]\nlog_format = "xml"\n', "kefu.toml: server.log_format: expected one of 'auto', 'console', 'json', got \"xml\""),
        ('[rules]\ndirectory = "nope"\n', "kefu.toml: rules.directory: directory not found: "),
        ('[plugins]\nload = ["./missing_plugin"]\n', "kefu.toml: plugins.load[0]: file not found: "),
        ('[chat]\ndefault_team = "sales"\n', "kefu.toml: chat.default_team: 'sales' is not in chat.teams"),
        ("[plugins]\nticket = 3\n", "kefu.toml: plugins.ticket: expected a table of plugin settings, got integer 3"),
        ('[attachments]\nallowed_types = ["image/png", "image/svg+xml"]\n',
         "kefu.toml: attachments.allowed_types[1]: 'image/svg+xml' is not a type the host recognises in a file's "
         "bytes; choose from image/png, image/jpeg"),
        ("[attachments]\nmax_bytes = 0\n", "kefu.toml: attachments.max_bytes: must be at least 1"),
        ("[rules]\nkeep_revisions = 0\n", "kefu.toml: rules.keep_revisions: must be at least 1"),
        ("[server]\nmax_frame_bytes = 65536\n", ("kefu.toml: server.max_frame_bytes: must be at least 98224, the size "
                                                 "of a send frame at the protocol's character limits")),
    ],
)
def test_bad_values_name_the_key_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "kefu.toml").write_text(extra)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("kefu.toml", environ={})
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^.*nothere\.toml: file not found$"):
        load_config(tmp_path / "nothere.toml", environ={})


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "kefu.toml"
    path.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(f"{path}: invalid TOML:")


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "kefu.toml"
    path.write_bytes("# 客服\n[server]\nport = 1\n".encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}: not UTF-8 text (byte 2); TOML files are UTF-8"


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    path = tmp_path / f"{'k' * 300}.toml"  # over NAME_MAX: an OSError other than "not found", even for root
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}: cannot be read: File name too long"


def test_environment_overrides_the_file(make_config: Callable[..., Config]) -> None:
    config = make_config(
        environ={
            "KEFU_SERVER__PORT": "9123",
            "KEFU_SERVER__ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "KEFU_SECRETS__ADMIN_TOKEN": "123456",  # digits stay a string for a string key
            "KEFU_PLUGINS__TICKET__MYSQL__DSN": "user:pw@tcp(127.0.0.1:3306)/db",
            "KEFU_TEST_POSTGRES_URL": "not a config key: no double underscore",
        }
    )
    assert config.server.port == 9123
    assert config.server.allowed_origins == ("https://a.example", "https://b.example")
    assert config.secrets.admin_token == "123456"
    assert config.plugins.for_plugin("ticket").settings == {"mysql": {"dsn": "user:pw@tcp(127.0.0.1:3306)/db"}}


def test_a_bad_environment_value_names_the_variable(make_config: Callable[..., Config]) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(environ={"KEFU_SERVER__PORT": "eighty"})
    assert str(info.value) == 'environment variable KEFU_SERVER__PORT: server.port: expected an integer, got "eighty"'


def test_command_line_overrides_win(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(), environ={"KEFU_SERVER__PORT": "1"}, overrides={"server.port": 2})
    assert config.server.port == 2


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    path = tmp_path / "kefu.toml"
    path.write_text('[database]\nurl = "sqlite+aiosqlite:///data/x.db"\n')
    config = load_config(path, environ={})
    assert database_url(config) == f"sqlite+aiosqlite:///{tmp_path}/data/x.db"


@pytest.mark.parametrize(
    ("argv_extra", "expected"),
    [
        (["--config", "missing.toml"], "kefu-host: missing.toml: file not found\n"),
        (["--port", "70000"], "kefu-host: command line: server.port: must be between 0 and 65535, got 70000\n"),
    ],
)
def test_the_cli_prints_one_line_and_exits_2(
    write_config: Callable[..., Path], argv_extra: list[str], expected: str
) -> None:
    cfg = write_config()
    args = ["--config", str(cfg), *argv_extra] if argv_extra[0] != "--config" else argv_extra
    result = subprocess.run(
        [sys.executable, "-m", "kefu_host", *args, "plugins"],
        capture_output=True,
        text=True,
        cwd=cfg.parent,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == expected
