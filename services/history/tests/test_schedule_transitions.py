"""Schedules' pure transitions (api/*_schedule.py, api/schedule_tick.py, api/scheduled_workflow_*):
message in, document / timers / outbox out. Ticks are at least once (a relayed outbox, a reloaded
timer), so a duplicate or stale fire must start nothing; overlap policies, the buffer bound, the
catch-up window and the backfill bound are checked here, where time is just an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from tidal_history.api import (
    backfill_schedule,
    create_schedule,
    delete_schedule,
    pause_schedule,
    schedule_tick,
    scheduled_workflow_closed,
    scheduled_workflow_started,
    trigger_schedule,
    update_schedule,
)
from tidal_history.operation import OperationContext
from tidal_history.schedule_mutation import SCHEDULED_BY_ID, SCHEDULED_START_TIME, ScheduleOutcome
from tidal_schema import WorkflowExecutionStatus
from tidal_schema.messages import (
    AckReply,
    BackfillSchedule,
    CreateSchedule,
    DeleteSchedule,
    ErrorCode,
    ErrorReply,
    FireTimer,
    PauseSchedule,
    RequestCancelWorkflowExecution,
    ScheduleBackfillRange,
    ScheduledWorkflowClosed,
    ScheduledWorkflowStarted,
    ScheduleTimer,
    StartWorkflowExecution,
    TerminateWorkflowExecution,
    TimerKind,
    TriggerSchedule,
    UpdateSchedule,
)
from tidal_schema.schedule_document import (
    MAX_BACKFILL_ACTIONS,
    MAX_BUFFERED_STARTS,
    ScheduleAction,
    ScheduleDocument,
    ScheduleOverlapPolicy,
    SchedulePolicies,
    ScheduleStateInput,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
EVERY_SECOND = {"intervals": [{"every": 1}]}
ACTION = ScheduleAction(workflow_type="Tick", workflow_id="tick", task_queue="q")


def _create(
    *,
    spec: dict[str, object] | None = None,
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP,
    **state: object,
) -> ScheduleDocument:
    msg = CreateSchedule(
        schedule_id="s",
        request_id="r",
        spec=spec or EVERY_SECOND,
        action=ACTION,
        policies=SchedulePolicies(overlap=overlap),
        state=ScheduleStateInput(**state),  # type: ignore[arg-type]
    )
    out = create_schedule.handle(OperationContext(now=T0, schedule=None, new_run_id="inc", shard_id=3), msg)
    assert out.changed and out.doc is not None
    return out.doc


def _fire(doc: ScheduleDocument, timer: ScheduleTimer | None = None) -> FireTimer:
    if timer is None:
        assert doc.armed_tick is not None
        nominal = doc.armed_tick.strftime("%Y-%m-%dT%H:%M:%SZ")
        return FireTimer(
            namespace="default",
            workflow_id="s",
            run_id=doc.incarnation,
            kind=TimerKind.SCHEDULE,
            key=f"{doc.incarnation}/schedule/t={nominal}",
            timer_id=nominal,
        )
    return timer.fire


def _starts(out: ScheduleOutcome) -> list[StartWorkflowExecution]:
    return [o.message for o in out.outbox if isinstance(o.message, StartWorkflowExecution)]


def _tick(doc: ScheduleDocument, at: datetime) -> ScheduleOutcome:
    return schedule_tick.handle(OperationContext(now=at, schedule=doc), _fire(doc))


def _close(doc: ScheduleDocument, workflow_id: str, status: WorkflowExecutionStatus) -> ScheduleOutcome:
    running = next(r for r in doc.running if r.workflow_id == workflow_id)
    msg = ScheduledWorkflowClosed(
        schedule_id="s",
        incarnation="inc",
        nominal_time=running.nominal_time,
        started_workflow_id=workflow_id,
        run_id="run-" + workflow_id,
        status=status,
    )
    return scheduled_workflow_closed.handle(OperationContext(now=T0, schedule=doc), msg)


def test_create_arms_the_first_tick_and_refuses_an_existing_id() -> None:
    msg = CreateSchedule(schedule_id="s", request_id="r", spec=EVERY_SECOND, action=ACTION)
    out = create_schedule.handle(OperationContext(now=T0, schedule=None, new_run_id="inc", shard_id=3), msg)
    (timer,) = out.timers_set
    assert timer.fire_at == datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
    assert timer.shard_id == 3 and timer.key == "inc/schedule/t=2026-01-01T12:00:01Z"
    assert timer.fire.kind is TimerKind.SCHEDULE and timer.fire.run_id == "inc"
    assert isinstance(out.reply, AckReply)
    assert out.doc is not None
    again = create_schedule.handle(
        OperationContext(now=T0, schedule=out.doc, new_run_id="other", shard_id=3), msg
    )
    assert not again.changed and isinstance(again.reply, AckReply)  # the same create, retried
    other = create_schedule.handle(
        OperationContext(now=T0, schedule=out.doc, new_run_id="x", shard_id=3),
        msg.model_copy(update={"request_id": "r2"}),
    )
    assert not other.changed
    assert isinstance(other.reply, ErrorReply) and other.reply.code is ErrorCode.ALREADY_STARTED


def test_a_tick_starts_the_run_named_by_its_nominal_time_and_arms_the_next() -> None:
    doc = _create()
    out = _tick(doc, datetime(2026, 1, 1, 12, 0, 1, 3000, tzinfo=UTC))
    (start,) = _starts(out)
    assert start.workflow_id == "tick-2026-01-01T12:00:01Z"
    assert start.request_id == "schedule/inc/2026-01-01T12:00:01Z"
    assert start.search_attributes[SCHEDULED_BY_ID] == "s"
    assert start.search_attributes[SCHEDULED_START_TIME] == "2026-01-01T12:00:01Z"
    assert start.scheduled_by is not None and start.scheduled_by.incarnation == "inc"
    assert out.timers_deleted == ["inc/schedule/t=2026-01-01T12:00:01Z"]
    (nxt,) = out.timers_set
    assert nxt.fire_at == datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC)
    assert doc.counters.actions == 1 and [r.workflow_id for r in doc.running] == [start.workflow_id]


def test_a_duplicate_or_stale_tick_starts_nothing() -> None:
    doc = _create()
    first = _fire(doc)
    _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    # The same fire again (the timer service reloaded it before history deleted its row).
    dup = schedule_tick.handle(
        OperationContext(now=datetime(2026, 1, 1, 12, 0, 1, 500, tzinfo=UTC), schedule=doc), first
    )
    assert not dup.changed and not dup.outbox
    # A fire of another incarnation (a deleted schedule created again with the same id).
    stale = schedule_tick.handle(
        OperationContext(now=datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC), schedule=doc),
        _fire(doc).model_copy(update={"run_id": "old"}),
    )
    assert not stale.changed and not stale.outbox
    assert doc.counters.actions == 1


def test_skip_skips_while_a_run_is_open_and_buffer_one_keeps_exactly_one() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.SKIP)
    for s in range(1, 5):
        _tick(doc, datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC))
    assert doc.counters.actions == 1 and doc.counters.skipped_overlap == 3 and not doc.buffered

    doc = _create(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    for s in range(1, 5):
        _tick(doc, datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC))
    assert doc.counters.actions == 1 and len(doc.buffered) == 1 and doc.counters.skipped_overlap == 2
    out = _close(doc, "tick-2026-01-01T12:00:01Z", WorkflowExecutionStatus.COMPLETED)
    (start,) = _starts(out)
    assert start.workflow_id == "tick-2026-01-01T12:00:02Z"  # the buffered one, by its own time
    assert not doc.buffered and doc.counters.actions == 2


def test_buffer_all_is_bounded() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.BUFFER_ALL)
    trig = [
        TriggerSchedule(schedule_id="s", request_id=f"t{i}", overlap=ScheduleOverlapPolicy.BUFFER_ALL)
        for i in range(MAX_BUFFERED_STARTS + 50)
    ]
    for i, msg in enumerate(trig):
        trigger_schedule.handle(OperationContext(now=T0 + timedelta(seconds=i), schedule=doc), msg)
    assert doc.counters.actions == 1
    assert len(doc.buffered) == MAX_BUFFERED_STARTS
    assert doc.counters.buffer_dropped == 49


def test_cancel_and_terminate_other_stop_the_running_run_and_start_after_it_closes() -> None:
    for policy, kind in (
        (ScheduleOverlapPolicy.CANCEL_OTHER, RequestCancelWorkflowExecution),
        (ScheduleOverlapPolicy.TERMINATE_OTHER, TerminateWorkflowExecution),
    ):
        doc = _create(overlap=policy)
        _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
        out = _tick(doc, datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC))
        stops = [o.message for o in out.outbox if isinstance(o.message, kind)]
        assert [m.workflow_id for m in stops] == ["tick-2026-01-01T12:00:01Z"]
        assert not _starts(out) and len(doc.buffered) == 1
        out = _close(doc, "tick-2026-01-01T12:00:01Z", WorkflowExecutionStatus.CANCELED)
        assert [s.workflow_id for s in _starts(out)] == ["tick-2026-01-01T12:00:02Z"]


def test_allow_all_starts_every_time() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    for s in range(1, 4):
        _tick(doc, datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC))
    assert doc.counters.actions == 3 and len(doc.running) == 3


def test_after_downtime_times_inside_the_catch_up_window_are_taken_the_rest_missed() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    doc.policies = SchedulePolicies(
        overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=timedelta(seconds=10)
    )
    # Down for a minute: the tick for 12:00:01 fires at 12:01:00.5.
    out = _tick(doc, datetime(2026, 1, 1, 12, 1, 0, 500_000, tzinfo=UTC))
    assert doc.counters.actions == 10  # 12:00:51 .. 12:01:00 (12:00:50 is 10.5 s late)
    assert doc.counters.missed_catchup == 50  # 12:00:01 .. 12:00:50
    assert out.taken == 10 and out.missed == 50
    (nxt,) = out.timers_set
    assert nxt.fire_at == datetime(2026, 1, 1, 12, 1, 1, tzinfo=UTC)


def test_a_long_outage_is_processed_in_bounded_ticks() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    late = T0 + timedelta(hours=1)
    out = _tick(doc, late)
    assert out.taken == 200  # MAX_TICK_ACTIONS; the next tick is due at once
    (nxt,) = out.timers_set
    assert nxt.fire_at < late


def test_paused_takes_nothing_but_trigger_still_acts_once_per_request() -> None:
    doc = _create(paused=True, note="maintenance")
    out = _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    assert not _starts(out) and doc.counters.actions == 0 and doc.counters.missed_catchup == 0
    msg = TriggerSchedule(schedule_id="s", request_id="t1")
    out = trigger_schedule.handle(OperationContext(now=T0, schedule=doc), msg)
    assert len(_starts(out)) == 1
    again = trigger_schedule.handle(OperationContext(now=T0, schedule=doc), msg)
    assert not again.changed and not again.outbox
    pause_schedule.handle(
        OperationContext(now=T0, schedule=doc), PauseSchedule(schedule_id="s", paused=False, note="back")
    )
    assert not doc.paused and doc.note == "back" and doc.conflict_token == 2


def test_two_triggers_in_one_second_do_not_merge_into_one_start() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    a = trigger_schedule.handle(
        OperationContext(now=T0, schedule=doc), TriggerSchedule(schedule_id="s", request_id="a")
    )
    b = trigger_schedule.handle(
        OperationContext(now=T0, schedule=doc), TriggerSchedule(schedule_id="s", request_id="b")
    )
    (first,) = _starts(a)
    assert not _starts(b) and len(doc.buffered) == 1
    out = _close(doc, first.workflow_id, WorkflowExecutionStatus.COMPLETED)
    (second,) = _starts(out)
    # Same workflow id (same second), but a request id of its own: a new run, not the first one.
    assert second.workflow_id == first.workflow_id and second.request_id != first.request_id


def test_a_start_answered_with_a_closed_run_does_not_leave_the_schedule_waiting() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.SKIP)
    _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    (running,) = doc.running
    answer = ScheduledWorkflowStarted(
        schedule_id="s",
        incarnation="inc",
        nominal_time=running.nominal_time,
        started_workflow_id=running.workflow_id,
        run_id="old-run",
        running=False,
    )
    out = scheduled_workflow_started.handle(OperationContext(now=T0, schedule=doc), answer)
    assert out.changed and not doc.running
    out = _tick(doc, datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC))
    assert len(_starts(out)) == 1


def test_limited_actions_stop_after_the_last_and_pause_on_failure_pauses() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.ALLOW_ALL, limited_actions=True, remaining_actions=2)
    _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    out = _tick(doc, datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC))
    assert doc.remaining_actions == 0 and not out.timers_set and doc.armed_tick is None

    doc = _create()
    doc.policies = SchedulePolicies(pause_on_failure=True)
    _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    out = _close(doc, "tick-2026-01-01T12:00:01Z", WorkflowExecutionStatus.FAILED)
    assert doc.paused and "failed" in doc.note
    assert out.failed == 1 and out.completed == 0  # counted for TidalScheduleActionsFailing


def test_update_refuses_a_stale_conflict_token_and_rearms() -> None:
    doc = _create()
    msg = UpdateSchedule(
        schedule_id="s", conflict_token=7, spec={"intervals": [{"every": 60}]}, action=ACTION
    )
    out = update_schedule.handle(OperationContext(now=T0, schedule=doc), msg)
    assert isinstance(out.reply, ErrorReply) and out.reply.code is ErrorCode.CONFLICT
    out = update_schedule.handle(
        OperationContext(now=T0, schedule=doc), msg.model_copy(update={"conflict_token": 1})
    )
    assert isinstance(out.reply, AckReply) and doc.conflict_token == 2
    assert out.timers_deleted == ["inc/schedule/t=2026-01-01T12:00:01Z"]
    (timer,) = out.timers_set
    assert timer.fire_at == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    bad = update_schedule.handle(
        OperationContext(now=T0, schedule=doc),
        msg.model_copy(update={"conflict_token": 2, "spec": {"intervals": [{"every": 0}]}}),
    )
    assert isinstance(bad.reply, ErrorReply) and "spec.intervals.0.every" in bad.reply.message


def test_backfill_takes_the_range_inclusive_and_refuses_a_huge_one() -> None:
    doc = _create(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    start = datetime(2025, 12, 31, 0, 0, 0, tzinfo=UTC)
    rng = ScheduleBackfillRange(start_at=start, end_at=start + timedelta(seconds=4))
    out = backfill_schedule.handle(
        OperationContext(now=T0, schedule=doc),
        BackfillSchedule(schedule_id="s", request_id="b", backfills=(rng,)),
    )
    assert [s.workflow_id for s in _starts(out)] == [f"tick-2025-12-31T00:00:0{i}Z" for i in range(5)]
    huge = ScheduleBackfillRange(start_at=start - timedelta(days=3650), end_at=start)
    out = backfill_schedule.handle(
        OperationContext(now=T0, schedule=doc),
        BackfillSchedule(schedule_id="s", request_id="h", backfills=(huge,)),
    )
    assert isinstance(out.reply, ErrorReply) and str(MAX_BACKFILL_ACTIONS) in out.reply.message
    assert not out.changed and doc.counters.actions == 5


def test_delete_removes_the_tick_and_later_notices_change_nothing() -> None:
    doc = _create()
    _tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC))
    out = delete_schedule.handle(OperationContext(now=T0, schedule=doc), DeleteSchedule(schedule_id="s"))
    assert out.deleted and out.timers_deleted == ["inc/schedule/t=2026-01-01T12:00:02Z"]
    closed = ScheduledWorkflowClosed(
        schedule_id="s",
        incarnation="inc",
        nominal_time=T0,
        started_workflow_id="tick-2026-01-01T12:00:01Z",
        run_id="r",
        status=WorkflowExecutionStatus.COMPLETED,
    )
    assert not scheduled_workflow_closed.handle(OperationContext(now=T0, schedule=None), closed).changed
    gone = delete_schedule.handle(OperationContext(now=T0, schedule=None), DeleteSchedule(schedule_id="s"))
    assert isinstance(gone.reply, ErrorReply) and gone.reply.code is ErrorCode.NOT_FOUND


def test_an_id_base_with_no_room_for_the_nominal_time_is_refused_at_create() -> None:
    """Before: accepted, and every tick then failed in history (a workflow id over 1,000
    characters), was retried as poison and dead-lettered, and the schedule never ticked again."""
    with pytest.raises(ValidationError, match="workflow_id"):
        ScheduleAction(workflow_type="Tick", workflow_id="w" * 990, task_queue="q")
    ScheduleAction(workflow_type="Tick", workflow_id="w" * 979, task_queue="q")


def test_a_schedules_own_search_attributes_are_kept_apart_from_its_runs_and_replaced_by_update() -> None:
    attrs = {"Team": "data", "Tier": 2, "Owners": ["ann", "bo"]}
    msg = CreateSchedule(
        schedule_id="s", request_id="r", spec=EVERY_SECOND, action=ACTION, search_attributes=attrs
    )
    out = create_schedule.handle(OperationContext(now=T0, schedule=None, new_run_id="inc", shard_id=3), msg)
    doc = out.doc
    assert doc is not None and doc.search_attributes == attrs
    # The runs it starts get the action's attributes (and the built-in two), not the schedule's.
    (start,) = _starts(_tick(doc, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)))
    assert "Team" not in start.search_attributes
    keep = UpdateSchedule(schedule_id="s", spec=EVERY_SECOND, action=ACTION)
    update_schedule.handle(OperationContext(now=T0, schedule=doc), keep)
    assert doc.search_attributes == attrs  # None: unchanged
    replace = keep.model_copy(update={"search_attributes": {"Team": "ops"}})
    update_schedule.handle(OperationContext(now=T0, schedule=doc), replace)
    assert doc.search_attributes == {"Team": "ops"}
    # A document stored before schedules had attributes still reads.
    old = doc.model_dump(mode="json")
    del old["search_attributes"]
    assert ScheduleDocument.model_validate(old).search_attributes == {}
