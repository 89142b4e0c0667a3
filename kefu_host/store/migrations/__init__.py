"""Alembic scripts for the host's schema (see :mod:`kefu_host.store.migrate`)."""
