"""`tidal.activity` context helpers outside a worker: the logger adapter and the shutdown and
cancellation state of an attempt's context (the worker sets them; tests/e2e shows them live)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from tidal import activity
from tidal.common import Priority

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _info() -> activity.Info:
    return activity.Info(
        activity_id="a1",
        activity_type="charge",
        attempt=2,
        current_attempt_scheduled_time=NOW,
        heartbeat_details=(),
        heartbeat_timeout=None,
        is_local=False,
        namespace="default",
        schedule_to_close_timeout=None,
        scheduled_time=NOW,
        start_to_close_timeout=None,
        started_time=NOW,
        task_queue="q",
        task_token=b"",
        workflow_id="wf",
        workflow_namespace="default",
        workflow_run_id="run",
        workflow_type="Order",
        priority=Priority.default,
        retry_policy=None,
    )


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_logger_adapter_adds_the_attempt_and_leaves_the_callers_extra_alone() -> None:
    keep = _Keep()
    base = activity.logger.base_logger
    base.addHandler(keep)
    token = activity._set_context(activity._Context(info=_info()))
    try:
        mine = {"order": 7}
        activity.logger.warning("charged", extra=mine)
        adapter = activity.LoggerAdapter(base, None)
        adapter.activity_info_on_message = False
        adapter.full_activity_info_on_extra = True
        adapter.warning("plain")
    finally:
        activity._reset_context(token)
        base.removeHandler(keep)
    activity.logger.warning("outside")  # no context: nothing added (and no handler here)
    first, second = keep.records
    assert mine == {"order": 7}
    assert first.getMessage().startswith("charged (") and "'activity_id': 'a1'" in first.getMessage()
    assert first.temporal_activity["attempt"] == 2 and first.order == 7  # type: ignore[attr-defined]
    assert second.getMessage() == "plain" and second.activity_info == _info()  # type: ignore[attr-defined]


async def test_worker_shutdown_and_cancellation_reach_the_context() -> None:
    ctx = activity._Context(info=_info())
    token = activity._set_context(ctx)
    try:
        assert not activity.is_worker_shutdown() and activity.cancellation_details() is None
        waiter = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        await asyncio.sleep(0)
        ctx.worker_shutdown()
        await asyncio.wait_for(waiter, 5)
        assert activity.is_worker_shutdown()
        activity.wait_for_worker_shutdown_sync(0)
        ctx.cancel(activity.ActivityCancellationDetails(worker_shutdown=True))
        ctx.cancel(activity.ActivityCancellationDetails(cancel_requested=True))  # set once
        assert activity.cancellation_details() == activity.ActivityCancellationDetails(worker_shutdown=True)
        with pytest.raises(RuntimeError, match="No client"):
            activity.client()
    finally:
        activity._reset_context(token)
    with pytest.raises(RuntimeError, match="Not in activity context"):
        activity.client()
