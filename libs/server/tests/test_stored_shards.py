"""An embedded database file keeps the history shard count it was used with, however it is
opened: `EmbeddedServer` (`make dev`) used to take its own default of four whatever the file
held (only `start_local()` read the stored count), so a file used with eight shards left shards
4-7's runs unfound and their timers unfired; `tidal-server dev` took TIDAL_SHARD_COUNT's default
of 16 likewise. A count asked for that differs from the stored one is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from tidal_server import host
from tidal_server.embedded import DEFAULT_SHARD_COUNT, EmbeddedServer
from tidal_server.settings import CommonSettings
from tidal_server.stored_shards import ShardCountMismatchError, shard_count_for


async def _used_with(path: Path, shards: int) -> None:
    server = EmbeddedServer(database_path=str(path), shard_count=shards, freeze_heap=False)
    await server.start()
    await server.stop()


def test_the_count_to_run_with() -> None:
    assert shard_count_for(None, None, 4, database="new.db") == 4
    assert shard_count_for(8, None, 4, database="used.db") == 8
    assert shard_count_for(8, 8, 4, database="used.db") == 8
    assert shard_count_for(None, 2, 4, database="new.db") == 2
    with pytest.raises(ShardCountMismatchError, match=r"used\.db was used with 8 history shards, not the 4"):
        shard_count_for(8, 4, 4, database="used.db")


async def test_an_embedded_server_opens_a_used_file_with_its_stored_count(tmp_path: Path) -> None:
    db = tmp_path / "eight.sqlite3"
    await _used_with(db, 8)
    server = EmbeddedServer(database_path=str(db), freeze_heap=False)
    await server.start()
    try:
        assert server.shard_count == 8
        assert server.runtime is not None and server.runtime.shard_count == 8
    finally:
        await server.stop()
    fresh = EmbeddedServer(database_path=str(tmp_path / "new.sqlite3"), freeze_heap=False)
    await fresh.start()
    try:
        assert fresh.shard_count == DEFAULT_SHARD_COUNT
    finally:
        await fresh.stop()


async def test_an_embedded_server_refuses_another_count_for_a_used_file(tmp_path: Path) -> None:
    db = tmp_path / "eight.sqlite3"
    await _used_with(db, 8)
    server = EmbeddedServer(database_path=str(db), shard_count=4, freeze_heap=False)
    with pytest.raises(ShardCountMismatchError, match="was used with 8 history shards, not the 4"):
        await server.start()
    assert not server.services  # nothing started under the wrong count


async def test_the_dev_server_runtime_takes_the_stored_count_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "eight.sqlite3"
    await _used_with(db, 8)
    url = f"sqlite+aiosqlite:///{db}"
    monkeypatch.delenv("TIDAL_SHARD_COUNT", raising=False)
    async with host.open_runtime(CommonSettings(database_url=url), embedded=True) as runtime:
        assert runtime.shard_count == 8
    monkeypatch.setenv("TIDAL_SHARD_COUNT", "16")
    with pytest.raises(ShardCountMismatchError, match="was used with 8 history shards, not the 16"):
        async with host.open_runtime(CommonSettings(database_url=url), embedded=True):
            pass
