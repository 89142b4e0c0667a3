"""Page objects: the console and the demo shop's widget, as a person would use them."""

from __future__ import annotations

from typing import Any

from playwright.async_api import FrameLocator, Locator, Page, expect

from tests.web.conftest import WebHost

FRAME = "iframe.kefu-frame"


class Console:
    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    async def open(cls, page: Page, host: WebHost, token: str) -> Console:
        """Signed in with an agent token (the way machines and most tests sign in)."""
        await page.goto(host.url("/"))
        await page.get_by_text("Sign in with an agent token").click()
        await page.get_by_label("Agent token").fill(token)
        await page.get_by_role("button", name="Connect").click()
        console = cls(page)
        await console.expect_connected()
        return console

    @classmethod
    async def sign_in(cls, page: Page, host: WebHost, name: str, password: str) -> Console:
        """Signed in with a name and password, as people do."""
        await page.goto(host.url("/"))
        await cls.fill_sign_in(page, name, password)
        console = cls(page)
        await console.expect_connected()
        return console

    @staticmethod
    async def fill_sign_in(page: Page, name: str, password: str) -> None:
        await page.get_by_label("Name").fill(name)
        await page.get_by_label("Password", exact=True).fill(password)
        await page.get_by_role("button", name="Sign in", exact=True).click()

    async def expect_connected(self) -> None:
        await expect(self.page.locator(".topbar [data-connection]")).to_have_attribute("data-connection", "open")

    def conversation(self, conversation_id: int | None = None) -> Locator:
        items = self.page.locator("nav.conversations .conv-item")
        return items if conversation_id is None else items.and_(
            self.page.locator(f'[data-conversation-id="{conversation_id}"]'))

    @property
    def messages(self) -> Locator:
        return self.page.locator("main.conversation .messages li.msg")

    def message(self, text: str) -> Locator:
        return self.messages.filter(has=self.page.locator(".body", has_text=text))

    def in_state(self, state: str) -> Locator:
        return self.page.locator(f'main.conversation .messages li.msg[data-state="{state}"]')

    async def send(self, text: str) -> None:
        await self.page.locator("#agent-composer").fill(text)
        await self.page.locator("#agent-composer").press("Enter")

    async def note(self, text: str) -> None:
        """Write a private note: the switch on, the text, Enter, the switch off again."""
        switch = self.page.get_by_role("checkbox", name="Private note")
        await switch.check()
        await self.send(text)
        await switch.uncheck()

    @property
    def notes(self) -> Locator:
        return self.page.locator('main.conversation .messages li.msg[data-kind="note"]')

    async def attach(self, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
        await self.page.locator("#agent-composer-file").set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}])

    @property
    def customer(self) -> Locator:
        return self.page.locator("aside section.customer")


class Widget:
    """The chat widget on the demo shop page: the bubble on the page, the chat in its iframe."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.frame: FrameLocator = page.frame_locator(FRAME)

    @classmethod
    async def open_demo(cls, page: Page, host: WebHost, user: dict[str, Any] | None = None) -> Widget:
        if user is not None:  # the company's page calls setUser before widget.js has loaded (the queue)
            await page.add_init_script(
                "window.kefu = window.kefu || function () { (window.kefu.q = window.kefu.q || []).push(arguments) };"
                f"window.kefu('setUser', {_js(user)});"
            )
        await page.goto(host.url("/demo"))
        widget = cls(page)
        await widget.bubble.click()
        await expect(widget.status).to_have_attribute("data-connection", "open")
        return widget

    @property
    def bubble(self) -> Locator:
        return self.page.locator("button.kefu-bubble")

    @property
    def badge(self) -> Locator:
        return self.page.locator("button.kefu-bubble .kefu-unread")

    @property
    def status(self) -> Locator:
        return self.frame.locator("p.status")

    @property
    def messages(self) -> Locator:
        return self.frame.locator(".messages li.msg")

    def message(self, text: str) -> Locator:
        return self.messages.filter(has=self.frame.locator(".body", has_text=text))

    def in_state(self, state: str) -> Locator:
        return self.frame.locator(f'.messages li.msg[data-state="{state}"]')

    async def send(self, text: str) -> None:
        box = self.frame.locator("#visitor-composer")
        await box.fill(text)
        await box.press("Enter")

    async def attach(self, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
        await self.frame.locator("#visitor-composer-file").set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}])

    async def leave_message(self, text: str, email: str = "fang@example.com", name: str = "") -> None:
        """Fill in and send the offline form (shown while no agent is online)."""
        await self.frame.get_by_role("textbox", name="Your name").fill(name)
        await self.frame.get_by_role("textbox", name="Email (required)").fill(email)
        await self.frame.get_by_role("textbox", name="Message (required)").fill(text)
        await self.frame.get_by_role("button", name="Send message").click()


def _js(value: Any) -> str:
    import json

    return json.dumps(value)


async def bodies(messages: Locator) -> list[str]:
    return [text.strip() for text in await messages.locator(".body").all_inner_texts()]


async def seqs(messages: Locator) -> list[str]:
    return [await m.get_attribute("data-seq") or "" for m in await messages.all()]


async def image_drawn(image: Locator) -> tuple[int, int]:
    """The size of an <img> once the browser has decoded it (0, 0 before, or when it is broken)."""
    await expect(image).to_have_js_property("complete", True)
    return tuple(await image.evaluate("i => [i.naturalWidth, i.naturalHeight]"))  # type: ignore[return-value]
