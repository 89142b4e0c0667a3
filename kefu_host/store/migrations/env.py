"""Alembic environment: always runs on the connection :mod:`kefu_host.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from kefu_host.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `kefu-host migrate`, which supplies the database connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them; batch mode does that for us
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
