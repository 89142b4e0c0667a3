"""WAL checkpoints on SQLite run in a thread of their own, never inside a commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.store import Store, open_store
from kefu_host.store.checkpoint import WalCheckpointer
from tests.store.test_writer import InsertEvents, count, event


async def write_events(store: Store, first: int, n: int, pad: int = 0) -> None:
    kind = InsertEvents()
    await asyncio.gather(
        *(store.writer.submit(kind, {**event(i), "payload": {"pad": "x" * pad}}) for i in range(first, first + n))
    )


async def writer_pragma(store: Store, name: str) -> int:
    async def read(conn: AsyncConnection) -> int:
        return int((await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one())

    return await store.writer.transaction(read)


def wal_size(db: Path) -> int:
    wal = Path(f"{db}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_commits_never_checkpoint_when_the_thread_does(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    async with open_store(f"sqlite+aiosqlite:///{db}", sqlite_checkpoint_interval=3600) as store:
        assert await writer_pragma(store, "wal_autocheckpoint") == 0
        for batch in range(6):  # well past 1,000 WAL pages, where a commit would have checkpointed itself
            await write_events(store, batch * 500, 500, pad=3000)
        grown = wal_size(db)
        assert grown > 1000 * 4096
        assert store.checkpointer is not None
        result = await asyncio.to_thread(store.checkpointer.run_once)
        assert not result.busy and result.checkpointed == result.wal_frames > 1000
        assert await count(store) == 3000


async def test_the_thread_checkpoints_on_its_interval(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    async with open_store(f"sqlite+aiosqlite:///{db}", sqlite_checkpoint_interval=0.05) as store:
        assert store.checkpointer is not None
        await write_events(store, 0, 200)
        for _ in range(100):  # at most 5 s
            if store.checkpointer.checkpoints:
                break
            await asyncio.sleep(0.05)
        assert store.checkpointer.checkpoints > 0


async def test_without_the_thread_sqlite_checkpoints_in_commits(tmp_path: Path) -> None:
    async with open_store(f"sqlite+aiosqlite:///{tmp_path}/a.db", sqlite_checkpoint_interval=0) as store:
        assert store.checkpointer is None
        assert await writer_pragma(store, "wal_autocheckpoint") == 1000


async def test_closing_leaves_the_wal_empty(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with open_store(f"sqlite+aiosqlite:///{db}", sqlite_checkpoint_interval=3600) as store:
        await write_events(store, 0, 300)
        assert wal_size(db) > 0
    assert wal_size(db) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM processed_events").fetchone() == (300,)


async def test_a_wal_past_its_limit_is_rewound(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    async with open_store(f"sqlite+aiosqlite:///{db}", sqlite_checkpoint_interval=3600) as store:
        await write_events(store, 0, 300, pad=3000)
        checkpointer = WalCheckpointer(str(db), interval=3600, restart_frames=10)
        checkpointer.start()
        try:
            size = wal_size(db)
            result = await asyncio.to_thread(checkpointer.run_once)
            assert not result.busy and checkpointer.restarts == 1
            await write_events(store, 300, 10)  # the writer starts the WAL over: the file does not grow
            assert wal_size(db) == size
            small = await asyncio.to_thread(checkpointer.run_once)
            assert small.wal_frames < 10 and checkpointer.restarts == 1  # below the limit: PASSIVE only
            assert await count(store) == 310
        finally:
            await asyncio.to_thread(checkpointer.close)


async def test_a_reader_on_an_old_snapshot_makes_the_rewind_give_up_not_the_writer_wait(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    async with open_store(f"sqlite+aiosqlite:///{db}", sqlite_checkpoint_interval=3600) as store:
        await write_events(store, 0, 100, pad=3000)
        reader = sqlite3.connect(db, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM processed_events").fetchone()  # holds its snapshot
        await write_events(store, 100, 100, pad=3000)  # frames the reader's snapshot does not see
        checkpointer = WalCheckpointer(str(db), interval=3600, restart_frames=10)
        checkpointer.start()
        try:
            result = await asyncio.to_thread(checkpointer.run_once)
            assert result.busy and checkpointer.restarts == 0
            await write_events(store, 200, 10)  # commits go on
            reader.execute("COMMIT")
            assert (await asyncio.to_thread(checkpointer.run_once)).busy is False
            assert checkpointer.restarts == 1
        finally:
            reader.close()
            await asyncio.to_thread(checkpointer.close)
        assert await count(store) == 210
