"""The helpers plugins check their settings with: each bad value is a ValueError naming the setting."""

from __future__ import annotations

import pytest

from kefu_host.plugin_db import check_dsn
from kefu_host.plugin_http import error_message, json_body
from kefu_host.plugin_settings import http_url, reject_unknown, seconds, text


def test_good_settings_come_back_cleaned() -> None:
    raw = {"url": "https://erp.example/api/", "token": "t", "timeout": 2, "ttl": 0}
    reject_unknown(raw, ("url", "token", "timeout", "ttl"))
    assert http_url(raw, "url", "http://127.0.0.1:8090") == "https://erp.example/api"
    assert text(raw, "token") == "t" and text({}, "token") == ""
    assert seconds(raw, "timeout", 3.0, at_most=300) == 2.0 and seconds(raw, "ttl", 5.0) == 0.0
    assert seconds({}, "ttl", 5.0) == 5.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reject_unknown({"timout": 1}, ("timeout",)), "unknown setting 'timout', did you mean 'timeout'?"),
        (lambda: reject_unknown({"zzz": 1}, ("timeout",)), "unknown setting 'zzz'; known: timeout"),
        (lambda: http_url({"url": "ftp://x"}, "url", "http://a"), "url: expected an http(s) URL like http://a"),
        (lambda: text({"token": 5}, "token"), "token: expected a string"),
        (lambda: seconds({"t": 0}, "t", 1.0, at_most=300), "t: expected seconds between 0 and 300, got 0"),
        (lambda: seconds({"t": True}, "t", 1.0), "t: expected a number of seconds >= 0, got True"),
        (lambda: check_dsn("dsn", "mysql+pymysql://h/db", "x"), "dsn: driver 'mysql+pymysql' is not supported"),
        (lambda: check_dsn("dsn", "sqlite+aiosqlite://", "sqlite+aiosqlite:///t.db"),
         "dsn: a SQLite URL needs a file, like sqlite+aiosqlite:///t.db"),
        (lambda: check_dsn("mysql.dsn", "", "x"), "mysql.dsn: expected a SQLAlchemy URL string"),
    ],
)
def test_bad_settings_name_the_setting(call: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()  # type: ignore[operator]
    assert str(info.value).startswith(message)


def test_error_bodies_of_external_apis() -> None:
    assert error_message(json_body(b'{"error": {"message": "no such SKU"}}')) == "no such SKU"
    assert error_message(json_body(b'{"message": "down"}')) == "down"
    assert json_body(b"<html>oops") is None and error_message(None) is None
