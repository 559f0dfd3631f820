"""`workflow.metric_meter()` (re-exported by `tidal.workflow`)."""

from __future__ import annotations

from ._metric_api import MetricMeter

__all__ = ["metric_meter"]


def metric_meter() -> MetricMeter:
    """A meter whose metrics land in the worker's Prometheus registry, labelled with the
    namespace, task queue and workflow type. Replay-safe, as temporalio's: while the worker
    replays history (a cache miss, a query), records are dropped, so each is counted once."""
    from . import workflow
    from ._prometheus_metrics import PrometheusMeter

    i = workflow.info()
    return PrometheusMeter(
        {"namespace": i.namespace, "task_queue": i.task_queue, "workflow_type": i.workflow_type},
        skip=workflow.unsafe.is_replaying,
    )
