"""Attachments are sent in chats: the chat fixtures (a host with agents and visitors on real sockets)."""

from tests.chat.conftest import start_host

__all__ = ["start_host"]
