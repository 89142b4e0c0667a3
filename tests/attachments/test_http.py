"""Attachments over HTTP: uploads within limits become messages, sniffed for their type; downloads go only to the
conversation's participants, as downloads that run nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from kefu_host.attachments.http import attachments_directory
from kefu_host.keys import ATTACHMENTS, CHAT, CONFIG, STORE
from kefu_host.store.models import Message
from kefu_host.testing.files import HTML, SVG, png
from tests.conftest import admin_headers

PNG = png()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form(client_msg_id: str | None, data: bytes, filename: str = "file.bin",
         content_type: str = "application/octet-stream") -> aiohttp.FormData:
    body = aiohttp.FormData()
    if client_msg_id is not None:
        body.add_field("client_msg_id", client_msg_id)
    body.add_field("file", data, filename=filename, content_type=content_type)
    return body


async def upload(host: Any, cid: int, token: str, body: aiohttp.FormData) -> tuple[int, dict[str, Any]]:
    response = await host.client.post(f"/api/conversations/{cid}/attachments", data=body, headers=bearer(token))
    return response.status, await response.json()


def stored_files(host: Any) -> list[Path]:
    return sorted(p for p in host.app[ATTACHMENTS].directory.rglob("*") if p.is_file())


async def message_count(host: Any) -> int:
    async with host.app[STORE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(Message))).scalar_one())


async def chat(host: Any) -> tuple[Any, str, Any, int]:
    """An agent holding a visitor's conversation: (agent socket, agent token, visitor, conversation id)."""
    token = await host.add_agent("alice")
    agent = await host.agent(token)
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    await agent.expect("assigned")
    return agent, token, visitor, cid


async def test_a_visitors_image_becomes_a_message_both_sides_get_and_download(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    agent, token, visitor, cid = await chat(host)

    status, body = await upload(host, cid, visitor.token, form("f-1", PNG, "receipt.txt", "text/plain"))
    assert (status, body["duplicate"]) == (201, False)
    message = body["message"]
    assert (message["kind"], message["body"], message["seq"], message["sender"]) == ("attachment", "receipt.txt", 2,
                                                                                    "visitor")
    assert message["attachment"] == {"id": message["id"], "name": "receipt.txt", "size": len(PNG),
                                     "content_type": "image/png", "image": True,
                                     "url": f"/api/conversations/{cid}/attachments/{message['id']}"}
    assert (await agent.expect("message", seq=2))["attachment"] == message["attachment"]
    assert (await visitor.expect("message", seq=2))["client_msg_id"] == "f-1"  # the widget's socket gets it too

    for headers in (bearer(token), bearer(visitor.token), admin_headers()):
        response = await host.client.get(message["attachment"]["url"], headers=headers)
        assert response.status == 200 and await response.read() == PNG
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Content-Disposition"].startswith("inline; ")
    history = await host.client.get(f"/api/conversations/{cid}/messages", headers=bearer(visitor.token))
    assert (await history.json())["messages"][1]["attachment"] == message["attachment"]


def raw_form(client_msg_id: str, data: bytes, disposition_params: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand, for file names no well-behaved client library would send."""
    boundary = "kefu-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"client_msg_id\"\r\n\r\n{client_msg_id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; {disposition_params}\r\n"
            "Content-Type: text/html\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_an_agents_file_is_served_as_an_attachment_that_runs_nothing(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent, token, visitor, cid = await chat(host)
    # 'Rechnung "März";<CR><LF><img src=x onerror=alert(1)>.html', in RFC 5987 form
    name = "filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22%3B%0D%0A%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html"
    data, headers = raw_form("a-1", "发票号 42\n".encode(), name)
    response = await host.client.post(f"/api/conversations/{cid}/attachments", data=data,
                                      headers={**headers, **bearer(token)})
    status, body = response.status, await response.json()
    assert status == 201, body
    url = body["message"]["attachment"]["url"]
    assert (await visitor.expect("message", seq=2))["body"] == 'Rechnung "März"; <img src=x onerror=alert(1)>.html'

    response = await host.client.get(url, headers=bearer(visitor.token))
    assert response.status == 200 and (await response.read()).decode() == "发票号 42\n"
    headers = response.headers
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"Rechnung _M_rz__ <img src=x onerror=alert(1)>.html\"; "
        "filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22%3B%20%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"].split("; ")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["Cache-Control"] == "private, no-store"


async def test_one_byte_over_the_limit_is_refused_and_nothing_is_kept(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url, environ={"KEFU_ATTACHMENTS__MAX_BYTES": "4096"})
    _, token, visitor, cid = await chat(host)
    before = await message_count(host)

    status, body = await upload(host, cid, visitor.token, form("big", b"x" * 4097, "big.txt"))
    assert (status, body["error"]["code"]) == (413, "too_large") and "4096" in body["error"]["message"]
    status, _ = await upload(host, cid, token, form("huge", b"x" * 200_000, "huge.txt"))  # refused by its length
    assert status == 413
    assert stored_files(host) == [] and await message_count(host) == before

    status, body = await upload(host, cid, visitor.token, form("fits", b"x" * 4096, "fits.txt"))
    assert status == 201 and body["message"]["attachment"]["size"] == 4096
    assert len(stored_files(host)) == 1 and await message_count(host) == before + 1


async def test_the_type_is_sniffed_from_the_bytes_and_markup_is_refused(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    _, token, visitor, cid = await chat(host)
    for n, (data, name) in enumerate([(HTML, "photo.png"), (SVG, "logo.svg"), (b"\x7fELF\x02\x01", "tool.pdf")]):
        status, body = await upload(host, cid, visitor.token, form(f"bad-{n}", data, name, "image/png"))
        assert (status, body["error"]["code"]) == (415, "type_not_allowed"), name
    assert "HTML or other markup" in (await upload(host, cid, token, form("h", HTML, "a.png", "image/png")))[1][
        "error"]["message"]
    assert stored_files(host) == []

    status, body = await upload(host, cid, visitor.token, form("png", PNG, "not-really.html", "text/html"))
    assert status == 201 and body["message"]["attachment"]["content_type"] == "image/png"


async def test_a_resent_upload_is_stored_once(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    agent, _, visitor, cid = await chat(host)
    first = await upload(host, cid, visitor.token, form("same", PNG, "a.png"))
    again = await upload(host, cid, visitor.token, form("same", png(rgb=(0, 0, 255)), "b.png"))
    assert (first[0], again[0], again[1]["duplicate"]) == (201, 200, True)
    assert again[1]["message"] == first[1]["message"]
    # a resend is answered from the record before its file is read: whatever it carries, nothing more is stored
    third = await upload(host, cid, visitor.token, form("same", HTML, "c.png"))
    assert (third[0], third[1]["message"]["id"]) == (200, first[1]["message"]["id"])
    assert len(stored_files(host)) == 1
    await agent.expect("message", seq=2)
    await visitor.say("and a text")
    assert (await agent.expect("message"))["seq"] == 3  # nothing was delivered for the resend


async def test_only_the_conversations_participants_get_its_files_and_others_learn_nothing(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    agent, token, visitor, cid = await chat(host)
    url = (await upload(host, cid, visitor.token, form("f", PNG, "a.png")))[1]["message"]["attachment"]["url"]
    text_id = (await agent.say(cid, "a text, not a file"))["id"]
    stranger = await host.visitor()
    other_cid = (await stranger.say("me too"))["conversation_id"]
    outsider = await host.add_agent("outsider", teams=("vip",))
    colleague = await host.add_agent("colleague")  # same team, does not hold it

    async def get(path: str, headers: dict[str, str]) -> tuple[int, str]:
        response = await host.client.get(path, headers=headers)
        text = (await response.read()).decode("utf-8", "replace")
        return response.status, text.replace(f"conversation {cid + 1000}", "ID").replace(f"conversation {cid}", "ID")

    missing_conversation = url.replace(f"/conversations/{cid}/", f"/conversations/{cid + 1000}/")
    for headers in (bearer(stranger.token), bearer(outsider), {}):  # type: ignore[attr-defined]
        assert await get(url, headers) == await get(missing_conversation, headers)
        assert (await get(url, headers))[0] in (401, 404)
    assert (await get(url, bearer(colleague)))[0] == 200  # agents of the team may read the conversation
    assert (await get(f"/api/conversations/{cid}/attachments/{text_id}", bearer(token)))[0] == 404
    # the file of one conversation is not reachable through another one that the caller may read
    assert (await get(url.replace(f"/conversations/{cid}/", f"/conversations/{other_cid}/"),
                      bearer(stranger.token)))[0] == 404  # type: ignore[attr-defined]

    status, body = await upload(host, cid, stranger.token, form("s", PNG, "a.png"))  # type: ignore[attr-defined]
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await upload(host, cid, colleague, form("c", PNG, "a.png"))
    assert (status, body["error"]["code"]) == (403, "forbidden")
    response = await host.client.post(f"/api/conversations/{cid}/attachments", data=form("x", PNG),
                                      headers=admin_headers())
    assert response.status == 403
    assert len(stored_files(host)) == 1


async def test_a_visitor_writes_only_to_their_current_conversation(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    session = await host.visitor_session()
    visitor = await host.visitor(token=session["token"])
    old = (await visitor.say("first"))["conversation_id"]
    await visitor.send({"type": "close"})
    await visitor.expect("closed")
    # only the host's own code makes a customer a second conversation; their closed first one is history now
    await host.app[CHAT].service.repo.create_conversation(session["customer_id"], session["visitor_id"], "support", 50)
    status, body = await upload(host, old, session["token"], form("f", PNG, "a.png"))
    assert (status, body["error"]["code"]) == (409, "not_current")


async def test_malformed_uploads_are_refused_naming_what_is_wrong(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    _, _, visitor, cid = await chat(host)
    path = f"/api/conversations/{cid}/attachments"
    cases = [
        (form(None, PNG, "a.png"), "the first part must be the client_msg_id field"),
        (form("x" * 101, PNG, "a.png"), "client_msg_id is longer than 100"),
        (form("e", b"", "empty.txt"), "the file is empty"),
    ]
    for body, problem in cases:
        status, answer = await upload(host, cid, visitor.token, body)
        assert status == 400 and problem in answer["error"]["message"], answer
    response = await host.client.post(path, json={"file": "x"}, headers=bearer(visitor.token))
    assert response.status == 400 and "multipart/form-data" in (await response.json())["error"]["message"]
    only_id = aiohttp.FormData()
    only_id.add_field("client_msg_id", "lonely")
    only_id.add_field("note", "no file here", content_type="text/plain")  # multipart, but no file part
    status, answer = await upload(host, cid, visitor.token, only_id)
    assert status == 400 and "file part" in answer["error"]["message"]
    assert stored_files(host) == []


async def test_with_no_allowed_types_uploads_are_off(start_host: Callable[..., Any]) -> None:
    host = await start_host("[attachments]\nallowed_types = []\n")
    _, _, visitor, cid = await chat(host)
    status, body = await upload(host, cid, visitor.token, form("f", PNG, "a.png"))
    assert (status, body["error"]["code"]) == (403, "attachments_off")


async def test_files_live_beside_the_sqlite_database_unless_configured(start_host: Callable[..., Any],
                                                                       tmp_path: Path) -> None:
    host = await start_host()
    assert attachments_directory(host.app[CONFIG]) == tmp_path / "kefu.attachments"
    assert host.app[ATTACHMENTS].directory.is_dir()
