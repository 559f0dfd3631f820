"""The list filter language: tokenizer/parser (pure) and its compilation to SQL, checked on a
real SQLite database with rows written by the same writer history uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db import create_engine, executions, migrate_engine
from tidal_server.visibility import (
    PageTokenError,
    QueryError,
    count_executions,
    count_grouped,
    infer_type,
    invalid_search_attributes,
    list_executions,
    parse,
)
from tidal_server.visibility.query import BoolOp, Comparison, OrderBy
from tidal_server.visibility.writer import index_attributes, upsert_attributes

T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- parser -----------------------------------------------------------------------------------


def test_parse_precedence_parentheses_and_order_by() -> None:
    text = "WorkflowType = 'Order' AND (ExecutionStatus = 'Running' OR Amount >= 10) order by StartTime asc"
    q = parse(text)
    assert q.order_by == (OrderBy("StartTime", False, text.index("StartTime")),)
    assert isinstance(q.where, BoolOp) and q.where.op == "and"
    left, right = q.where.items
    assert left == Comparison("WorkflowType", "=", ("Order",), 0)
    assert isinstance(right, BoolOp) and right.op == "or"
    assert right.items[1] == Comparison("Amount", ">=", (10,), text.index("Amount"))


def test_parse_every_operator_and_literal() -> None:
    q = parse(
        "A IN ('x', \"y\") OR B NOT IN (1, -2.5e3) OR C BETWEEN 1 AND 2 OR D NOT BETWEEN 'a' AND 'b' "
        "OR E STARTS_WITH 'pre' OR F IS NULL OR G IS NOT NULL OR H != true OR I <> FALSE OR `J K` < 1"
    )
    assert isinstance(q.where, BoolOp)
    got = [(c.attribute, c.op, c.values) for c in q.where.items if isinstance(c, Comparison)]
    assert got == [
        ("A", "in", ("x", "y")),
        ("B", "not in", (1, -2500.0)),
        ("C", "between", (1, 2)),
        ("D", "not between", ("a", "b")),
        ("E", "starts_with", ("pre",)),
        ("F", "is null", ()),
        ("G", "is not null", ()),
        ("H", "!=", (True,)),
        ("I", "!=", (False,)),
        ("J K", "<", (1,)),
    ]


def test_parse_string_escapes_and_empty_query() -> None:
    q = parse(r"A = 'it''s' AND B = 'a\'b'")
    assert isinstance(q.where, BoolOp)
    assert [c.values for c in q.where.items if isinstance(c, Comparison)] == [("it's",), ("a'b",)]
    assert parse("").where is None and parse("   ").order_by == ()
    assert parse("ORDER BY StartTime").where is None


@pytest.mark.parametrize(
    ("text", "position", "token", "message"),
    [
        ("WorkflowType = ", 15, None, "expected a value"),
        ("WorkflowType == 'x'", 14, "=", "expected a value"),
        ("WorkflowType = 'x", 15, "'x", "unterminated string"),
        ("(A = 1", 6, None, "expected ')'"),
        ("A = 1 B = 2", 6, "B", "expected AND, OR"),
        ("= 1", 0, "=", "expected a search attribute name"),
        ("A = 1 AND", 9, None, "expected a search attribute name"),
        ("A LIKE 'x'", 2, "LIKE", "expected an operator"),
        ("A IN ()", 6, ")", "expected a value"),
        ("A NOT = 1", 6, "=", "expected IN or BETWEEN"),
        ("A = 1 ORDER StartTime", 12, "StartTime", "expected BY"),
        ("A = 1 # x", 6, "#", "unexpected character"),
        ("A = 1.2.3", 4, "1.2.3", "invalid number"),
        ("(" * 60 + "A = 1" + ")" * 60, 50, "(", "nested deeper than 50"),
    ],
)
def test_parse_errors_name_position_and_token(
    text: str, position: int, token: str | None, message: str
) -> None:
    with pytest.raises(QueryError) as info:
        parse(text)
    assert info.value.position == position
    assert info.value.token == token
    assert message in str(info.value)
    assert f"position {position}" in str(info.value)


def test_type_inference_and_validation() -> None:
    assert [infer_type(v).value for v in ("a", 1, 1.5, True, "2026-01-01T00:00:00Z")] == [
        "Keyword",
        "Int",
        "Double",
        "Bool",
        "Datetime",
    ]
    assert invalid_search_attributes({"CustomerId": "c-1", "Gone": None}, allow_none=True) is None
    assert "system attribute" in str(invalid_search_attributes({"WorkflowType": "x"}, allow_none=True))
    assert "no value" in str(invalid_search_attributes({"X": None}, allow_none=False))
    assert "invalid" in str(invalid_search_attributes({"1x": 1}, allow_none=True))
    assert "no search attribute type" in str(invalid_search_attributes({"X": [1]}, allow_none=True))
    assert "NUL" in str(invalid_search_attributes({"X": "a\x00b"}, allow_none=True))
    assert invalid_search_attributes({"X": "é" * 2000}, allow_none=True) is None  # may be Text
    assert "longer than 65536 bytes" in str(invalid_search_attributes({"X": "x" * 70000}, allow_none=True))
    assert "64 bits" in str(invalid_search_attributes({"X": 2**63}, allow_none=True))


# --- compiled against SQLite ------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'v.sqlite3'}")
    await migrate_engine(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


async def _run(engine: AsyncEngine, i: int, *, wf_type: str, status: str, attrs: dict[str, object]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(executions).values(
                namespace="ns",
                workflow_id=f"wf-{i}",
                run_id=f"run-{i:03d}",
                shard_id=0,
                workflow_type=wf_type,
                task_queue="tq-even" if i % 2 == 0 else "tq-odd",
                status=status,
                start_time=T0 + timedelta(minutes=i),
                close_time=None if status == "Running" else T0 + timedelta(minutes=i, seconds=30),
                next_event_id=3,
                version=1,
                state={},
                memo={},
                search_attributes=attrs,
            )
        )
        await index_attributes(
            conn,
            sqlite.insert,
            namespace="ns",
            workflow_id=f"wf-{i}",
            run_id=f"run-{i:03d}",
            changes=attrs,
            new_run=True,
        )


@pytest.fixture
async def runs(engine: AsyncEngine) -> AsyncEngine:
    for i in range(10):
        attrs: dict[str, object] = {
            "CustomerId": f"c-{i % 3}",
            "Amount": i * 10,
            "Score": i / 2,
            "Vip": i % 2 == 0,
            "DueAt": (T0 + timedelta(days=i)).isoformat(),
        }
        if i == 9:
            attrs = {}
        await _run(
            engine,
            i,
            wf_type="Order" if i < 6 else "Refund",
            status="Running" if i < 3 else "Completed",
            attrs=attrs,
        )
    # Registered as Text before anyone used it.
    async with engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO search_attribute_defs VALUES ('ns', 'Note', 'Text')"))
        await upsert_attributes(
            conn,
            sqlite.insert,
            namespace="ns",
            workflow_id="wf-4",
            run_id="run-004",
            changes={"Note": "Rush Delivery please"},
        )
    return engine


async def _ids(engine: AsyncEngine, query: str, *, page_size: int = 100) -> list[int]:
    page = await list_executions(engine, "ns", query, page_size=page_size)
    return [int(e.workflow_id.split("-")[1]) for e in page.executions]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
        ("WorkflowType = 'Order' AND ExecutionStatus = 'Running'", [2, 1, 0]),
        ("ExecutionStatus = 'completed' AND CustomerId = 'c-1'", [7, 4]),
        ("CustomerId IN ('c-0', 'c-2') AND Amount >= 50", [8, 6, 5]),
        ("Amount BETWEEN 20 AND 40", [4, 3, 2]),
        ("Amount NOT BETWEEN 20 AND 70", [8, 1, 0]),
        ("Score > 3.5", [8]),
        ("Vip = true AND Amount < 50", [4, 2, 0]),
        ("Vip != true", [7, 5, 3, 1]),
        ("DueAt >= '2026-01-08T00:00:00Z'", [8, 7]),
        ("CustomerId IS NULL", [9]),
        ("CustomerId STARTS_WITH 'c-'", [8, 7, 6, 5, 4, 3, 2, 1, 0]),
        ("WorkflowId STARTS_WITH 'wf-1'", [1]),
        ("TaskQueue = 'tq-odd' AND (Amount = 10 OR Amount = 70)", [7, 1]),
        ("CloseTime IS NULL", [2, 1, 0]),
        ("StartTime > '2026-01-01T00:07:00Z'", [9, 8]),
        ("CloseTime BETWEEN '2026-01-01T00:03:00Z' AND '2026-01-01T00:05:00Z'", [4, 3]),
        ("Note = 'rush'", [4]),
        ("Note != 'rush'", []),
        ("Amount < 30 ORDER BY StartTime ASC", [0, 1, 2]),
        ("RunId = 'run-003'", [3]),
    ],
)
async def test_filters(runs: AsyncEngine, query: str, expected: list[int]) -> None:
    assert await _ids(runs, query) == expected
    assert await count_executions(runs, "ns", query) == len(expected)


async def test_keyset_pages_cover_everything_once(runs: AsyncEngine) -> None:
    for order in ("", "ORDER BY StartTime ASC"):
        seen: list[str] = []
        token = None
        while True:
            page = await list_executions(runs, "ns", order, page_size=3, page_token=token)
            seen += [e.workflow_id for e in page.executions]
            token = page.next_page_token
            if token is None:
                break
        assert len(seen) == 10 and len(set(seen)) == 10
        if order:
            assert seen[0] == "wf-0"
    page = await list_executions(runs, "ns", "", page_size=3)
    assert page.next_page_token is not None
    with pytest.raises(PageTokenError, match="other ORDER BY"):
        await list_executions(
            runs, "ns", "ORDER BY StartTime ASC", page_size=3, page_token=page.next_page_token
        )
    with pytest.raises(PageTokenError):
        await list_executions(runs, "ns", "", page_size=3, page_token="garbage!")


async def test_upsert_replaces_and_removes(runs: AsyncEngine) -> None:
    async with runs.begin() as conn:
        await upsert_attributes(
            conn,
            sqlite.insert,
            namespace="ns",
            workflow_id="wf-1",
            run_id="run-001",
            changes={"CustomerId": "c-9", "Amount": None},
        )
    assert await _ids(runs, "CustomerId = 'c-9'") == [1]
    assert await _ids(runs, "Amount IS NULL") == [9, 1]
    page = await list_executions(runs, "ns", "WorkflowId = 'wf-1'", page_size=1)
    assert page.executions[0].search_attributes["CustomerId"] == "c-9"
    assert "Amount" not in page.executions[0].search_attributes


async def test_values_that_do_not_fit_are_kept_but_not_indexed(runs: AsyncEngine) -> None:
    """An over-long Keyword, or a value of another type than the one registered, must never
    fail history's transaction: the run keeps it in its document, filters do not see it."""
    long_keyword = "k" * 1025
    async with runs.begin() as conn:
        await upsert_attributes(
            conn,
            sqlite.insert,
            namespace="ns",
            workflow_id="wf-2",
            run_id="run-002",
            changes={"CustomerId": long_keyword, "Amount": "lots", "Note": "x" * 5000},
        )
    page = await list_executions(runs, "ns", "WorkflowId = 'wf-2'", page_size=1)
    assert page.executions[0].search_attributes["CustomerId"] == long_keyword
    assert page.executions[0].search_attributes["Amount"] == "lots"
    assert await _ids(runs, "CustomerId IS NULL") == [9, 2]
    assert await _ids(runs, "Amount IS NULL") == [9, 2]
    assert await _ids(runs, "Note = 'XXXX'") == [2]  # long Text is stored (unindexed) and matched


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("Nope = 1", 0, "unknown search attribute 'Nope'"),
        ("WorkflowType = 'x' AND Amount = 'ten'", 23, "Amount is an Int attribute"),
        ("ExecutionStatus = 'Sleeping'", 0, "not an ExecutionStatus"),
        ("StartTime > 'yesterday'", 0, "not an ISO-8601 date-time"),
        ("Vip > true", 0, "supports =, != and IN only"),
        ("Amount STARTS_WITH '1'", 0, "STARTS_WITH needs a Keyword"),
        ("ORDER BY CloseTime", 9, "ORDER BY supports StartTime only"),
        ("GROUP BY WorkflowType", 9, "GROUP BY supports ExecutionStatus only"),
        ("Amount > 1 GROUP BY ExecutionStatus", 11, "GROUP BY is for counting only"),
    ],
)
async def test_type_errors(runs: AsyncEngine, query: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        await list_executions(runs, "ns", query, page_size=10)
    assert info.value.position == position
    assert message in str(info.value)


async def test_count_grouped_by_status(runs: AsyncEngine) -> None:
    grouped = await count_grouped(runs, "ns", "GROUP BY ExecutionStatus")
    assert grouped.count == 10 and grouped.groups == [("Completed", 7), ("Running", 3)]
    grouped = await count_grouped(runs, "ns", "WorkflowType = 'Order' group by ExecutionStatus")
    assert grouped.groups == [("Completed", 3), ("Running", 3)]
    assert (await count_grouped(runs, "ns", "Amount > 1000 GROUP BY ExecutionStatus")).groups == []
    assert (await count_grouped(runs, "ns", "")).groups is None
    # GROUP is not reserved: only GROUP BY where an operator cannot follow.
    assert parse("Group = 'x'").group_by == ()
    with pytest.raises(QueryError, match="ExecutionStatus only"):
        await count_grouped(runs, "ns", "GROUP BY ExecutionStatus, WorkflowType")
