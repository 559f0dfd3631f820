"""Queries in the runtime: replay for a query stops at the last completed workflow task, the
worker answers from its cache only when that cache is exactly there, errors are structured."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal._runtime.query import QueryError
from tidal._runtime.query_answer import answer_query
from tidal.converter import DataConverter
from tidal_schema import Payload
from tidal_schema.messages import QueryErrorKind, QueryWorkflowTask


@workflow.defn
class Tally:
    def __init__(self) -> None:
        self.total = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.total > 100)
        return self.total

    @workflow.signal
    def add(self, n: int) -> None:
        self.total += n

    @workflow.query
    def total_times(self, k: int) -> int:
        return self.total * k


DEFN = workflow.get_definition(Tally)


def _instance(h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(definition=DEFN, namespace="default", workflow_id=h.workflow_id, run_id=h.run_id)


def _task(h: HistoryBuilder, *args: object, name: str = "total_times") -> QueryWorkflowTask:
    return QueryWorkflowTask(
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
        workflow_type="Tally",
        task_queue="q",
        query_id="q1",
        query_type=name,
        query_args=DataConverter.default.to_payloads(args),
        events=tuple(h.events),
        deadline=datetime.now(UTC) + timedelta(seconds=5),
        reply_to="r",
    )


def test_replay_for_a_query_sees_only_completed_tasks() -> None:
    h = HistoryBuilder("Tally")
    worker_view = _instance(h)
    h.complete_task(worker_view.activate(h.task()))
    h.signal("add", 5)
    h.schedule_task()
    h.complete_task(worker_view.activate(h.task(first_event_id=worker_view.last_event_id + 1)))
    h.signal("add", 7)  # not handled by any task yet
    h.schedule_task()
    fresh = _instance(h)
    fresh.catch_up(h.events)
    assert fresh.query("total_times", DataConverter.default.to_payloads([1])).data == 5
    # The sticky worker's instance is at the same completed task: the same answer from cache.
    assert worker_view.query("total_times", DataConverter.default.to_payloads([1])).data == 5


def test_a_run_whose_first_task_is_pending_is_initialised_for_the_query() -> None:
    h = HistoryBuilder("Tally")
    inst = _instance(h)
    inst.catch_up(h.events)
    assert inst.query("total_times", DataConverter.default.to_payloads([3])).data == 0


def test_answer_query_uses_the_cache_only_at_the_same_completed_task() -> None:
    h = HistoryBuilder("Tally")
    cached = _instance(h)
    h.complete_task(cached.activate(h.task()))
    cached._object.total = 1000  # marks answers that came from the cache
    cache: OrderedDict[str, WorkflowInstance] = OrderedDict({h.run_id: cached})
    kw = dict(definitions={"Tally": DEFN}, cache=cache, converter=DataConverter.default, identity="w")
    reply = answer_query(_task(h, 1), **kw)  # type: ignore[arg-type]
    assert reply.result == Payload(data=1000)
    h.signal("add", 2)
    h.schedule_task()
    h.complete_task(_instance(h).activate(h.task()))  # another worker ran the next task
    reply = answer_query(_task(h, 1), **kw)  # type: ignore[arg-type]
    assert reply.result == Payload(data=2) and reply.error is None


def test_query_errors_are_structured() -> None:
    h = HistoryBuilder("Tally")
    kw = dict(definitions={"Tally": DEFN}, cache={}, converter=DataConverter.default, identity="w")
    unknown = answer_query(_task(h, name="nope"), **kw)  # type: ignore[arg-type]
    assert unknown.error is QueryErrorKind.UNKNOWN_QUERY and unknown.known_queries == ("total_times",)
    bad = answer_query(_task(h, "x"), **kw)  # type: ignore[arg-type]
    assert bad.error is QueryErrorKind.BAD_ARGUMENTS
    too_many = answer_query(_task(h, 1, 2), **kw)  # type: ignore[arg-type]
    assert too_many.error is QueryErrorKind.BAD_ARGUMENTS
    no_type = answer_query(_task(h, 1), **{**kw, "definitions": {}})  # type: ignore[arg-type]
    assert no_type.error is QueryErrorKind.WORKER_ERROR and "not registered" in no_type.message
    with pytest.raises(QueryError):
        _instance(h).query("total_times", ())


def test_temporal_names_for_queries_and_updates() -> None:
    import tidal.client as client
    from tidal.exceptions import TidalError

    assert hasattr(workflow, "update") and hasattr(workflow, "query")
    for name in ("WorkflowQueryFailedError", "WorkflowUpdateFailedError"):
        assert issubclass(getattr(client, name), TidalError)
    assert [s.name for s in client.WorkflowUpdateStage] == ["ADMITTED", "ACCEPTED", "COMPLETED"]
    for method in ("query", "execute_update", "start_update", "get_update_handle"):
        assert hasattr(client.WorkflowHandle, method)
    assert hasattr(client.WorkflowUpdateHandle, "result")


@workflow.defn
class ReplayFlag:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def replaying(self) -> bool:
        return workflow.unsafe.is_replaying()


def test_a_query_is_never_replaying_even_on_an_instance_rebuilt_by_replay() -> None:
    """temporalio: `is_replaying()` is false in queries. An instance rebuilt for the query
    (catch_up replays the history) used to answer True, so a query interceptor or handler that
    skips work while replaying skipped it for a real query."""
    h = HistoryBuilder("ReplayFlag")
    worker_view = WorkflowInstance(
        definition=workflow.get_definition(ReplayFlag),
        namespace="default",
        workflow_id="wf-1",
        run_id="run-1",
    )
    h.complete_task(worker_view.activate(h.task()))
    assert worker_view.query("replaying").data is False
    fresh = WorkflowInstance(
        definition=workflow.get_definition(ReplayFlag),
        namespace="default",
        workflow_id="wf-1",
        run_id="run-1",
    )
    fresh.catch_up(h.events)
    assert fresh.query("replaying").data is False
    assert fresh.is_replaying  # the instance itself is still a replayed one
