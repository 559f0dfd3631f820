"""The fused completion's speculation, without a server (libs/sdk/tidal/_fused_task.py): the
workflow task the worker builds on an eager attempt's result is the one history would send after
the plain completion (HistoryBuilder writes what history writes), when the worker may fuse, and
how it reads history's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from tidal import activity, workflow
from tidal._fused_completion import FusedCompletions
from tidal._fused_task import FusedBase, fused_task, fused_verdict, why_not_fused
from tidal._run_cache import RunCache
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal.converter import DataConverter
from tidal_schema import HistoryEvent, events, limits
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    ActivityTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    QueryWorkflowTask,
    WorkflowTask,
)

T = timedelta(seconds=10)
NOW = datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)


@activity.defn
async def add_one(value: int) -> int:
    return value + 1


@workflow.defn
class Steps:
    """Branches on `workflow.now()` and on the results, so another time or result would give
    other commands."""

    @workflow.run
    async def run(self, n: int) -> list[str]:
        value, seen = 0, []
        for _ in range(n):
            value = await workflow.execute_activity(add_one, value, start_to_close_timeout=T)
            if workflow.now().second % 2:
                await workflow.sleep(timedelta(seconds=value))
                seen.append(f"odd{value}")
            else:
                workflow.upsert_memo({"v": value})
                seen.append(f"even{value}")
        return seen


def _instance(h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(Steps),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def _base(inst: WorkflowInstance) -> FusedBase:
    return FusedBase(
        last_event_id=inst.last_event_id,
        activated_upto=inst.activated_upto,
        commands=inst.last_commands,
        history_size=inst.current_history_size,
        continue_as_new_suggested=inst.continue_as_new_suggested,
        task_queue=inst.info.task_queue,
        task_timeout=T,
    )


def _attempt(h: HistoryBuilder, activity_id: str, *, next_event_id: int) -> ActivityTask:
    scheduled = next(
        e.event_id
        for e in h.events
        if isinstance(e.attributes, events.ActivityTaskScheduled) and e.attributes.activity_id == activity_id
    )
    return ActivityTask(
        namespace=h.namespace,
        workflow_id=h.workflow_id,
        run_id=h.run_id,
        workflow_type=h.workflow_type,
        activity_id=activity_id,
        activity_type="add_one",
        task_queue=h.task_queue,
        scheduled_event_id=scheduled,
        attempt=1,
        history_routing_key="history.test",
        scheduled_time=NOW,
        current_attempt_scheduled_time=NOW,
        next_event_id=next_event_id,
    )


def _result(h: HistoryBuilder, attempt: ActivityTask, value: int) -> CompleteActivityTask:
    return CompleteActivityTask(
        namespace=h.namespace,
        workflow_id=h.workflow_id,
        run_id=h.run_id,
        scheduled_event_id=attempt.scheduled_event_id,
        attempt=1,
        result=(h.converter.to_payload(value),),
    )


def _key(e: HistoryEvent) -> tuple[object, ...]:
    """What the instance reads of an event (HistoryBuilder leaves identities and times out)."""
    a = e.attributes
    keep = ("scheduled_event_id", "started_event_id", "result", "activity_id", "timer_id", "upserted_memo")
    return (e.event_id, a.type, *(getattr(a, k, None) for k in keep))


@pytest.mark.parametrize("second", [4, 5])  # even and odd: both branches of the workflow
def test_the_fused_task_is_the_plain_path_s(second: int) -> None:
    h = HistoryBuilder("Steps", 3)
    fused_inst, plain_inst = _instance(h), _instance(h)
    first = h.task()
    commands = fused_inst.activate(first)
    assert plain_inst.activate(first) == commands
    fused = 0
    while not isinstance(commands[-1], cmd.CompleteWorkflowExecution):
        h.complete_task(commands)
        timer = next((c for c in commands if isinstance(c, cmd.StartTimer)), None)
        if timer is not None:  # (a timer's fire is no activity result: the plain path)
            h.timer_fired(timer.timer_id)
            h.schedule_task()
            task = h.task(first_event_id=plain_inst.last_event_id + 1)
            commands = fused_inst.activate(task)
            assert plain_inst.activate(task) == commands
            continue
        (aid,) = [c.activity_id for c in commands if isinstance(c, cmd.ScheduleActivityTask)]
        s = h.last_event_id + 1
        attempt = _attempt(h, aid, next_event_id=s)
        assert why_not_fused(_base(fused_inst), attempt) is None
        now = NOW.replace(second=second + 2 * fused)
        value = int(aid)
        task = fused_task(_base(fused_inst), attempt, _result(h, attempt, value), identity="me", now=now)
        # What history writes for the plain completion, then the sticky task.
        h.activity_completed(aid, value)
        h.schedule_task()
        plain = h.task(first_event_id=plain_inst.last_event_id + 1).model_copy(update={"started_time": now})
        assert (task.scheduled_event_id, task.first_event_id, task.history_length) == (
            plain.scheduled_event_id,
            plain.first_event_id,
            plain.history_length,
        )
        assert [_key(e) for e in task.events] == [_key(e) for e in plain.events]
        assert task.events[-3].attributes == events.ActivityTaskStarted(
            scheduled_event_id=attempt.scheduled_event_id, identity="me", attempt=1
        )
        commands = fused_inst.activate(task)
        assert plain_inst.activate(plain) == commands
        fused += 1
    assert fused == 3
    assert fused_inst.is_closed and plain_inst.is_closed


def _after_first_task(n: int = 2) -> tuple[HistoryBuilder, WorkflowInstance, ActivityTask]:
    h = HistoryBuilder("Steps", n)
    inst = _instance(h)
    h.complete_task(inst.activate(h.task()))
    return h, inst, _attempt(h, "1", next_event_id=h.last_event_id + 1)


def test_why_not_fused() -> None:
    _, inst, attempt = _after_first_task()
    base = _base(inst)
    assert why_not_fused(base, attempt) is None
    assert why_not_fused(base, attempt.model_copy(update={"next_event_id": 0})) == "no_next_event_id"
    # History wrote an event the worker does not know of (a signal, a buffered event...).
    moved = attempt.model_copy(update={"next_event_id": attempt.next_event_id + 1})
    assert why_not_fused(base, moved) == "history_moved"
    other = attempt.model_copy(update={"activity_id": "7"})
    assert why_not_fused(base, other) == "not_the_last_task"
    older = attempt.model_copy(update={"scheduled_event_id": 2})
    assert why_not_fused(base, older) == "not_the_last_task"
    cancel = (*base.commands, cmd.CancelTimer(timer_id="t"))
    shifted = attempt.model_copy(update={"next_event_id": attempt.next_event_id + 1})
    assert why_not_fused(FusedBase(**{**base.__dict__, "commands": cancel}), shifted) == "commands"
    suggested = FusedBase(**{**base.__dict__, "continue_as_new_suggested": True})
    assert why_not_fused(suggested, attempt) == "continue_as_new_suggested"


def test_the_result_counts_in_the_history_size() -> None:
    h, inst, attempt = _after_first_task()
    near = limits.HISTORY_SIZE_SUGGEST_CONTINUE_AS_NEW - 1_000
    base = FusedBase(**{**_base(inst).__dict__, "history_size": near})
    result = _result(h, attempt, 0).model_copy(update={"result": (h.converter.to_payload("x" * 2_000),)})
    task = fused_task(base, attempt, result, identity="me", now=NOW)
    assert task.history_size_bytes > near + 2_000 and task.suggest_continue_as_new
    small = fused_task(_base(inst), attempt, _result(h, attempt, 0), identity="me", now=NOW)
    assert 0 < small.history_size_bytes < 10_000 and not small.suggest_continue_as_new


def test_the_verdict() -> None:
    s = 10
    at = datetime(2024, 1, 1, tzinfo=UTC)

    def ev(event_id: int, attributes: events.EventAttributes) -> HistoryEvent:
        return HistoryEvent(event_id=event_id, event_time=at, attributes=attributes)

    accepted = [
        ev(s + 3, events.WorkflowTaskStarted(scheduled_event_id=s + 2, identity="me")),
        ev(s + 4, events.WorkflowTaskCompleted(scheduled_event_id=s + 2, started_event_id=s + 3)),
        ev(
            s + 5,
            events.TimerStarted(
                timer_id="1", start_to_fire_timeout=T, workflow_task_completed_event_id=s + 4
            ),
        ),
        ev(s + 6, events.TimerFired(timer_id="1", started_event_id=s + 5)),
        ev(s + 7, events.WorkflowTaskScheduled(task_queue="q")),
    ]
    assert fused_verdict(accepted, s, "me")
    # Task s + 2 was history's own (a refusal) and another worker ran it.
    assert not fused_verdict(accepted, s, "someone else")
    # A refusal: the task starts after the last task this worker completed, at or before s.
    refused = [
        ev(s - 3, events.WorkflowTaskStarted(scheduled_event_id=s - 4, identity="me")),
        ev(s - 2, events.WorkflowTaskCompleted(scheduled_event_id=s - 4, started_event_id=s - 3)),
        ev(s - 1, events.WorkflowExecutionSignaled(signal_name="x")),
        ev(s, events.WorkflowTaskScheduled(task_queue="q")),
    ]
    assert not fused_verdict(refused, s, "me")
    # A task cut by the size budget to its last event proves nothing: replay.
    assert not fused_verdict(accepted[-1:], s, "me")


def _fused_completions(cache: RunCache) -> FusedCompletions:
    async def never(*_: object) -> tuple[cmd.Command, ...]:
        raise AssertionError("not activated here")

    return FusedCompletions(
        enabled=True,
        task_queue="q",
        identity="me",
        cache=cache,
        busy=lambda _run: False,
        activate=never,
        converter=lambda _task: DataConverter.default,
        completion=lambda *_: None,  # type: ignore[arg-type,return-value]
    )


def _ahead() -> tuple[HistoryBuilder, WorkflowInstance, RunCache, FusedCompletions, int]:
    h, inst, attempt = _after_first_task()
    cache = RunCache(capacity=10)
    cache[h.run_id] = inst
    s = attempt.next_event_id
    inst.fused_at = s
    return h, inst, cache, _fused_completions(cache), s


def _accepted_events(s: int, identity: str = "me") -> tuple[HistoryEvent, ...]:
    return (
        HistoryEvent(
            event_id=s + 3,
            event_time=NOW,
            attributes=events.WorkflowTaskStarted(scheduled_event_id=s + 2, identity=identity),
        ),
        HistoryEvent(
            event_id=s + 4,
            event_time=NOW,
            attributes=events.WorkflowTaskCompleted(scheduled_event_id=s + 2, started_event_id=s + 3),
        ),
    )


def _query(h: HistoryBuilder, evs: tuple[HistoryEvent, ...]) -> QueryWorkflowTask:
    return QueryWorkflowTask(
        namespace=h.namespace,
        workflow_id=h.workflow_id,
        run_id=h.run_id,
        workflow_type=h.workflow_type,
        task_queue="q",
        query_id="1",
        query_type="q",
        events=evs,
        deadline=NOW,
        first_event_id=evs[0].event_id if evs else 1,
    )


def test_a_query_never_reads_an_instance_ahead_of_history() -> None:
    h, inst, cache, fused, s = _ahead()
    # The query's history shows the run's last completed task (before the fused one): replay.
    assert fused.query_cache(_query(h, tuple(h.events))) == {}
    assert inst.fused_at == s
    # Another worker's task s + 2 (history refused and the task went elsewhere): still not it.
    assert fused.query_cache(_query(h, _accepted_events(s, "other"))) == {}
    # History shows the fused task completed by this worker: accepted, the cache answers.
    assert fused.query_cache(_query(h, _accepted_events(s))) is cache
    assert inst.fused_at == 0


def test_a_refused_task_drops_the_instance_and_an_accepted_one_keeps_it() -> None:
    h, inst, cache, fused, s = _ahead()
    h.activity_completed("1", 1)
    h.schedule_task()
    refused = h.task(first_event_id=inst.last_event_id + 1)
    assert refused.scheduled_event_id == s + 2  # the very ids the instance assumed
    fused.check_task(refused)
    assert h.run_id not in cache
    h, inst, cache, fused, s = _ahead()
    accepted = refused.model_copy(
        update={"events": (*_accepted_events(s), refused.events[-1].model_copy(update={"event_id": s + 5}))}
    )
    fused.check_task(accepted)
    assert cache[h.run_id] is inst and inst.fused_at == 0


def test_an_eager_attempt_of_the_fused_task_s_commands_means_accepted() -> None:
    h, inst, _cache, fused, s = _ahead()
    sibling = _attempt(h, "1", next_event_id=s)  # scheduled before s: proves nothing
    fused.note_eager_activity(sibling)
    assert inst.fused_at == s
    own = sibling.model_copy(update={"scheduled_event_id": s + 5, "next_event_id": s + 6})
    fused.note_eager_activity(own)
    assert inst.fused_at == 0


async def test_no_fuse_next_to_another_outcome_of_the_run() -> None:
    h, inst, cache, fused, s = _ahead()
    inst.fused_at = 0
    attempt = _attempt(h, "1", next_event_id=s)
    result = _result(h, attempt, 1)
    conv = DataConverter.default

    def skipped(reason: str) -> float:
        labels = {"task_queue": "q", "result": f"skipped_{reason}"}
        return REGISTRY.get_sample_value("tidal_worker_fused_completions_total", labels) or 0.0

    before = {r: skipped(r) for r in ("siblings", "history_moved", "busy")}
    assert await fused.fuse(attempt, result, conv, {}, siblings=True) is None
    fused.result_alone(h.run_id)  # a sibling's result went alone since the last task
    assert await fused.fuse(attempt, result, conv, {}) is None
    inst.alone_at = -1
    inst.fused_at = s  # an earlier fused task's verdict unknown
    assert await fused.fuse(attempt, result, conv, {}) is None
    assert {r: skipped(r) - n for r, n in before.items()} == {"siblings": 1, "history_moved": 1, "busy": 1}
    assert cache[h.run_id] is inst  # untouched: never activated


async def test_the_fused_task_starts_no_earlier_than_history_handed_the_attempt_out() -> None:
    """A clock behind history's (or a time-skipping server ahead of the wall clock): the task's
    `workflow.now()` is the hand-out time at least, the bound history records it within."""
    h, inst, attempt = _after_first_task()
    cache = RunCache(capacity=10)
    cache[h.run_id] = inst
    ran: list[WorkflowTask] = []

    async def activate(_inst: WorkflowInstance, task: WorkflowTask) -> tuple[cmd.Command, ...]:
        ran.append(task)
        return ()

    fused = FusedCompletions(
        enabled=True,
        task_queue="q",
        identity="me",
        cache=cache,
        busy=lambda _run: False,
        activate=activate,
        converter=lambda _task: DataConverter.default,
        completion=lambda task, _inst, _cmds: CompleteWorkflowTask(
            namespace=task.namespace,
            workflow_id=task.workflow_id,
            run_id=task.run_id,
            scheduled_event_id=task.scheduled_event_id,
            started_time=task.started_time,
        ),
    )
    ahead = datetime.now(UTC) + timedelta(hours=1)
    attempt = attempt.model_copy(update={"current_attempt_scheduled_time": ahead})
    got = await fused.fuse(attempt, _result(h, attempt, 1), DataConverter.default, {})
    assert got is not None and got.completion.started_time == ahead
    assert ran[0].started_time == ahead and ran[0].scheduled_event_id == attempt.next_event_id + 2
    assert inst.fused_at == attempt.next_event_id  # ahead of history until the verdict
