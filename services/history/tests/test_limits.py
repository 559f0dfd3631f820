"""History's limits as pure functions: what a workflow task carries, the history verdict, and
completions over the blob size limit (limits.py)."""

from datetime import UTC, datetime, timedelta

from tidal_history.api import complete_activity_task, complete_workflow_task, start_workflow
from tidal_history.limits import (
    COUNT_EXCEEDED,
    SIZE_EXCEEDED,
    HistoryLimits,
    enforce_blob_size,
    event_size,
    fit_workflow_task,
    history_verdict,
)
from tidal_history.operation import OperationContext
from tidal_schema import Failure, HistoryEvent, Payload
from tidal_schema import commands as cmd
from tidal_schema.messages import (
    AddWorkflowTask,
    CompleteActivityTask,
    CompleteWorkflowTask,
    FailActivityTask,
    FailWorkflowTask,
    StartWorkflowExecution,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BIG = "x" * 3000


def _run_with_activities(n: int, *, sticky: str | None = None) -> tuple[list[HistoryEvent], AddWorkflowTask]:
    """A run that completed `n` activities with 3000-byte results; returns its history and the
    (unfitted) task that followed the last result."""
    o = start_workflow.handle(
        OperationContext(now=T0, current=None, new_run_id="run", shard_id=0),
        StartWorkflowExecution(workflow_id="w", workflow_type="T", task_queue="q", request_id="r"),
    )
    state, history = o.state, list(o.events)
    assert state is not None
    add: AddWorkflowTask | None = None
    for i in range(n):
        wft = state.workflow_task
        assert wft is not None
        sched = cmd.ScheduleActivityTask(
            activity_id=str(i), activity_type="a", task_queue="q", start_to_close_timeout=timedelta(seconds=9)
        )
        o = complete_workflow_task.handle(
            OperationContext(now=T0, state=state, history=history),
            CompleteWorkflowTask(
                workflow_id="w",
                run_id="run",
                scheduled_event_id=wft.scheduled_event_id,
                commands=(sched,),
                sticky_queue=sticky,
            ),
        )
        history += o.events
        scheduled = history[-1].event_id
        o = complete_activity_task.handle(
            OperationContext(now=T0, state=state, history=history),
            CompleteActivityTask(
                workflow_id="w",
                run_id="run",
                scheduled_event_id=scheduled,
                attempt=1,
                result=(Payload(data=BIG),),
            ),
        )
        history += o.events
        (add,) = [x.message for x in o.outbox if isinstance(x.message, AddWorkflowTask)]
    assert add is not None
    return history, add


def test_a_small_non_sticky_task_carries_the_whole_history() -> None:
    history, add = _run_with_activities(2)
    fitted = fit_workflow_task(add, HistoryLimits())
    assert fitted.task.first_event_id == 1 and fitted.task.events == tuple(history)


def test_a_task_suggests_continue_as_new_past_either_threshold() -> None:
    history, add = _run_with_activities(2)
    size = sum(event_size(e) for e in history)
    quiet = fit_workflow_task(add, HistoryLimits(), history_size=size).task
    assert (quiet.history_size_bytes, quiet.suggest_continue_as_new) == (size, False)
    by_count = HistoryLimits(history_count_suggest_continue_as_new=len(history))
    assert fit_workflow_task(add, by_count, history_size=size).task.suggest_continue_as_new
    by_size = HistoryLimits(history_size_suggest_continue_as_new=size)
    assert fit_workflow_task(add, by_size, history_size=size).task.suggest_continue_as_new
    below = HistoryLimits(history_size_suggest_continue_as_new=size + 1)
    assert not fit_workflow_task(add, below, history_size=size).task.suggest_continue_as_new


def test_a_sticky_task_carries_only_what_the_worker_has_not_seen() -> None:
    history, add = _run_with_activities(3, sticky="sq")
    fitted = fit_workflow_task(add, HistoryLimits())
    # The worker completed the task scheduled before the last activity: it has seen up to that
    # WorkflowTaskScheduled; the task carries Started, Completed, ActivityScheduled, Started,
    # Completed and the new WorkflowTaskScheduled.
    types = [e.event_type for e in fitted.task.events]
    assert types == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "WorkflowTaskScheduled",
    ]
    completed = fitted.task.events[1].attributes
    assert fitted.task.first_event_id == completed.scheduled_event_id + 1  # type: ignore[union-attr]
    assert fitted.task.events[-1].event_id == fitted.task.scheduled_event_id == history[-1].event_id


def test_a_long_history_is_cut_to_the_budget_and_always_ends_with_the_task() -> None:
    history, add = _run_with_activities(40)
    total = sum(event_size(e) for e in history)
    lim = HistoryLimits(max_message_bytes=64 * 1024)  # budget: 16 KiB of events
    fitted = fit_workflow_task(add, lim)
    carried = fitted.task.events
    assert sum(event_size(e) for e in carried) <= lim.task_history_budget < total
    assert fitted.task.first_event_id == carried[0].event_id > 1
    assert carried[-1].event_id == fitted.task.scheduled_event_id
    assert len(fitted.model_dump_json()) < lim.max_message_bytes
    by_count = fit_workflow_task(add, HistoryLimits(task_history_max_events=5))
    assert len(by_count.task.events) == 5
    # Even an event larger than the budget on its own: the task's own event always goes.
    tiny = fit_workflow_task(add, HistoryLimits(max_message_bytes=64 * 1024, task_history_max_bytes=1024))
    assert len(tiny.task.events) >= 1 and tiny.task.events[-1].event_type == "WorkflowTaskScheduled"


def test_history_verdict_warns_once_per_level_and_terminates_at_the_limit() -> None:
    lim = HistoryLimits(
        history_count_warn=10, history_count_error=20, history_size_warn=100, history_size_error=200
    )
    v = history_verdict(lim, count_before=9, size_before=50, count=10, size=60)
    assert v.warnings == ("count",) and v.terminate is None
    assert history_verdict(lim, count_before=10, size_before=60, count=11, size=70).warnings == ()
    v = history_verdict(lim, count_before=19, size_before=90, count=20, size=120)
    assert v.warnings == ("size",) and v.terminate is not None and v.terminate.startswith(COUNT_EXCEEDED)
    v = history_verdict(lim, count_before=12, size_before=150, count=13, size=250)
    assert v.terminate is not None and v.terminate.startswith(SIZE_EXCEEDED)


def test_a_completion_over_the_blob_size_limit_fails_the_workflow_task() -> None:
    lim = HistoryLimits(blob_size=1024)
    sched = cmd.ScheduleActivityTask(
        activity_id="1", activity_type="a", task_queue="q", input=(Payload(data="y" * 2000),)
    )
    msg = CompleteWorkflowTask(workflow_id="w", run_id="r", scheduled_event_id=2, commands=(sched,))
    out = enforce_blob_size(msg, lim)
    assert isinstance(out, FailWorkflowTask)
    assert out.cause == "BadScheduleActivityAttributes" and out.scheduled_event_id == 2
    assert "exceed the blob size limit of 1024 bytes" in out.failure.message
    small = CompleteWorkflowTask(
        workflow_id="w", run_id="r", scheduled_event_id=2, commands=(cmd.CompleteWorkflowExecution(),)
    )
    assert enforce_blob_size(small, lim) is small


def test_an_activity_result_over_the_blob_size_limit_fails_the_activity_for_good() -> None:
    msg = CompleteActivityTask(
        workflow_id="w", run_id="r", scheduled_event_id=5, attempt=2, result=(Payload(data="z" * 2000),)
    )
    out = enforce_blob_size(msg, HistoryLimits(blob_size=1024))
    assert isinstance(out, FailActivityTask) and out.attempt == 2 and out.failure.non_retryable
    assert out.failure.message.startswith("Complete result exceeds size limit.")


def test_an_activity_failure_over_the_blob_size_limit_is_replaced_and_fails_the_activity_for_good() -> None:
    # An activity failure carried 6 MB of details into ActivityTaskFailed (and every retry) before:
    # only results were held to the blob size limit.
    failure = Failure(message="big", details=(Payload(data="z" * 1500), Payload(data="z" * 1500)))
    msg = FailActivityTask(workflow_id="w", run_id="r", scheduled_event_id=5, attempt=2, failure=failure)
    out = enforce_blob_size(msg, HistoryLimits(blob_size=1024))
    assert isinstance(out, FailActivityTask) and out.attempt == 2 and out.scheduled_event_id == 5
    assert out.failure.non_retryable and out.failure.details == ()
    assert out.failure.message.startswith("Failure exceeds size limit.") and "big" in out.failure.message
    small = msg.model_copy(update={"failure": Failure(message="small")})
    assert enforce_blob_size(small, HistoryLimits(blob_size=1024)) is small


def test_unsent_heartbeat_details_over_the_blob_size_limit_fail_the_activity_for_good() -> None:
    msg = FailActivityTask(
        workflow_id="w",
        run_id="r",
        scheduled_event_id=5,
        attempt=1,
        failure=Failure(message="retry me"),
        last_heartbeat_details=(Payload(data="h" * 2000),),
    )
    out = enforce_blob_size(msg, HistoryLimits(blob_size=1024))
    assert isinstance(out, FailActivityTask) and out.last_heartbeat_details is None
    assert out.failure.non_retryable and out.failure.message.startswith(
        "Heartbeat details exceed size limit."
    )


def test_a_workflow_task_failure_over_the_blob_size_limit_is_recorded_without_its_details() -> None:
    # Each retry of such a task wrote its whole failure again (WorkflowTaskFailed per attempt).
    failure = Failure(
        message="boom",
        stack_trace="s" * 2000,
        cause=Failure(message="inner", details=(Payload(data="y" * 2000),)),
    )
    msg = FailWorkflowTask(
        workflow_id="w",
        run_id="r",
        scheduled_event_id=2,
        failure=failure,
        cause="WorkflowWorkerUnhandledFailure",
    )
    out = enforce_blob_size(msg, HistoryLimits(blob_size=1024))
    assert isinstance(out, FailWorkflowTask) and out.cause == "WorkflowWorkerUnhandledFailure"
    assert out.failure.message.startswith("Failure exceeds size limit.") and "boom" in out.failure.message
    assert len(out.failure.model_dump_json()) < 1024
