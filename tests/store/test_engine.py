"""Engines keep statement parameters (message bodies, profiles) out of error texts and logs."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, StatementError

from kefu_host.store import open_store
from kefu_host.store.models import Message, utcnow

BODY = "my card is 4242 4242 4242 4242"


async def test_a_failing_statement_error_names_no_parameter_values(db_url: str) -> None:
    async with open_store(db_url) as store:
        with pytest.raises(DBAPIError) as broken_write:
            async with store.engines.write.begin() as conn:  # no such conversation: a foreign-key violation
                await conn.execute(insert(Message).values(conversation_id=987654, seq=1, sender="visitor",
                                                          sender_id="v-1", body=BODY, created_at=utcnow()))
        with pytest.raises(DBAPIError) as broken_read:
            async with store.read() as conn:
                await conn.execute(text("SELECT id FROM customers WHERE no_such_column = :name"), {"name": BODY})
    for error in (broken_write.value, broken_read.value):
        assert isinstance(error, StatementError)
        assert "4242" not in str(error)
        assert "[SQL parameters hidden due to hide_parameters=True]" in str(error)
