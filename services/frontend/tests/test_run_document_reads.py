"""The frontend reads history's run document only through its shared schema.

`executions.state` is written by history; a key looked up by hand (`row.state.get("x")`) goes
silently stale when history renames a field, where `RunDocument` fails its tests
(tests/test_run_document.py) and its type checks.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import tidal_frontend
from tidal_frontend.store import ExecutionRow
from tidal_schema import WorkflowExecutionStatus

_SOURCES = Path(tidal_frontend.__file__).parent


def _row(state: dict[str, object]) -> ExecutionRow:
    return ExecutionRow(
        namespace="default",
        workflow_id="wf",
        run_id="r1",
        workflow_type="T",
        task_queue="q",
        status=WorkflowExecutionStatus.RUNNING,
        start_time=datetime(2026, 1, 1, tzinfo=UTC),
        close_time=None,
        next_event_id=3,
        state=state,
        memo={},
        search_attributes={},
        result=None,
    )


def test_no_module_indexes_the_state_document_by_hand() -> None:
    offenders = []
    for path in sorted(_SOURCES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            target = None
            if isinstance(node, ast.Subscript):
                target = node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value if node.func.attr == "get" else None
            if isinstance(target, ast.Attribute) and target.attr == "state":
                offenders.append(f"{path.relative_to(_SOURCES)}:{getattr(node, 'lineno', '?')}")
    assert offenders == [], f"read the run document with ExecutionRow.document(): {offenders}"


def test_document_reads_the_shared_schema_and_tolerates_a_corrupt_row() -> None:
    state = {
        "namespace": "default",
        "workflow_id": "wf",
        "run_id": "r1",
        "workflow_type": "T",
        "task_queue": "q",
        "shard_id": 0,
        "start_time": "2026-01-01T00:00:00Z",
        "start_request_id": "req",
        "sticky_queue": "tidal.sticky.w1",
        "a_field_from_a_newer_history": {"x": 1},
    }
    doc = _row(state).document()
    assert doc is not None and doc.sticky_queue == "tidal.sticky.w1"
    assert _row({"run_id": 7, "start_time": "not a time"}).document() is None
