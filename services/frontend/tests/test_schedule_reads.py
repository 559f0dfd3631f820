"""Schedule reads on a real SQLite database: describe of a document stored before schedules had
search attributes, and filtered list pages (bounded scans give short pages with a token; paging
on finds every match once, in id order)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend import schedule_reads
from tidal_schema.schedule_document import ScheduleAction, ScheduleDocument
from tidal_server.db import create_engine, migrate_engine
from tidal_server.db import tables as t
from tidal_server.visibility import QueryError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 's.sqlite3'}")
    await migrate_engine(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


def _doc(i: int, attrs: dict[str, Any]) -> dict[str, Any]:
    doc = ScheduleDocument(
        namespace="default",
        schedule_id=f"s-{i:03d}",
        incarnation=f"inc-{i}",
        shard_id=0,
        spec={"intervals": [{"every": 60}]},
        action=ScheduleAction(workflow_type="W", workflow_id=f"w-{i}", task_queue="q"),
        search_attributes=attrs,
        created_at=T0,
        processed_until=T0,
    )
    return doc.model_dump(mode="json")


async def _insert(engine: AsyncEngine, docs: list[dict[str, Any]]) -> None:
    rows = [
        {
            "namespace": "default",
            "schedule_id": d["schedule_id"],
            "shard_id": 0,
            "version": 1,
            "paused": False,
            "next_action_at": None,
            "document": d,
            "created_at": T0,
            "updated_at": T0,
        }
        for d in docs
    ]
    async with engine.begin() as conn:
        await conn.execute(sa.insert(t.schedules), rows)


async def test_a_document_stored_before_search_attributes_still_describes(engine: AsyncEngine) -> None:
    old = _doc(1, {})
    del old["search_attributes"]
    await _insert(engine, [old])
    described = schedule_reads.describe(await schedule_reads.load(engine, "default", "s-001"))
    assert described.search_attributes == {}
    page = await schedule_reads.list_page(engine, "default", page_size=10, page_token=None, query="")
    assert [e.search_attributes for e in page.schedules] == [{}]


async def test_filtered_pages_are_bounded_and_find_every_match_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _insert(engine, [_doc(i, {"Bucket": i % 5, "Tags": [f"t{i % 3}"]}) for i in range(40)])
    monkeypatch.setattr(schedule_reads, "_CHUNK", 3)
    monkeypatch.setattr(schedule_reads, "MAX_SCANNED", 7)

    async def every(query: str, page_size: int) -> tuple[list[str], int]:
        ids: list[str] = []
        token, pages = None, 0
        while True:
            page = await schedule_reads.list_page(
                engine, "default", page_size=page_size, page_token=token, query=query
            )
            pages += 1
            assert len(page.schedules) <= page_size
            ids += [e.schedule_id for e in page.schedules]
            token = page.next_page_token
            if token is None:
                return ids, pages

    ids, pages = await every("Bucket = 0", page_size=2)
    assert ids == [f"s-{i:03d}" for i in range(0, 40, 5)]
    assert pages >= 40 // 7  # no request read more than 7 documents
    ids, _ = await every("Tags = 't1' AND Bucket >= 3", page_size=100)
    assert ids == [f"s-{i:03d}" for i in range(40) if i % 3 == 1 and i % 5 >= 3]
    all_ids, _ = await every("", page_size=16)  # unfiltered: full pages, no scan bound
    assert len(all_ids) == 40 and all_ids == sorted(all_ids)
    with pytest.raises(QueryError):
        await schedule_reads.list_page(engine, "default", page_size=5, page_token=None, query="Bucket >")
