"""History's batch metrics: what `metrics.committed` counts per batch (one increment per event
type, summed over the batch's runs) is what one increment per event counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from tidal_history import metrics
from tidal_history.state import MutableState
from tidal_history.store import RunWrite
from tidal_schema import HistoryEvent
from tidal_schema import events as ev

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _write(run_id: str, workflow_type: str) -> RunWrite:
    st = MutableState(
        namespace="metrics-ns",
        workflow_id=f"wf-{run_id}",
        run_id=run_id,
        workflow_type=workflow_type,
        task_queue="q",
        shard_id=0,
        start_time=NOW,
        start_request_id=f"req-{run_id}",
    )
    scheduled = [
        HistoryEvent(event_id=i, event_time=NOW, attributes=ev.WorkflowTaskScheduled(task_queue="q"))
        for i in (1, 2)
    ]
    closed = HistoryEvent(
        event_id=3,
        event_time=NOW + timedelta(seconds=2),
        attributes=ev.WorkflowExecutionCompleted(workflow_task_completed_event_id=2),
    )
    return RunWrite(state=st, old_version=1, events=[*scheduled, closed])


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_batch_counts_every_event_and_every_close() -> None:
    scheduled = _value("tidal_history_state_transitions_total", event_type="WorkflowTaskScheduled")
    completed = _value("tidal_history_state_transitions_total", event_type="WorkflowExecutionCompleted")
    closed = _value(
        "tidal_workflow_closed_total", namespace="metrics-ns", workflow_type="MetricsT", status="completed"
    )
    durations = _value(
        "tidal_workflow_duration_seconds_count", namespace="metrics-ns", workflow_type="MetricsT"
    )

    metrics.committed([_write("r1", "MetricsT"), _write("r2", "MetricsT"), _write("r3", "MetricsT")])

    assert (
        _value("tidal_history_state_transitions_total", event_type="WorkflowTaskScheduled") == scheduled + 6
    )
    assert (
        _value("tidal_history_state_transitions_total", event_type="WorkflowExecutionCompleted")
        == completed + 3
    )
    assert (
        _value(
            "tidal_workflow_closed_total",
            namespace="metrics-ns",
            workflow_type="MetricsT",
            status="completed",
        )
        == closed + 3
    )
    assert (
        _value("tidal_workflow_duration_seconds_count", namespace="metrics-ns", workflow_type="MetricsT")
        == durations + 3
    )
