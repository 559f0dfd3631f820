"""Workflow interceptors inside the runtime: the chain's order, sync handlers kept synchronous,
chains that wait, queries that may not wait, and what outbound interceptors change in the
commands (headers, arguments, eager dispatch, continue-as-new). The server side is in
tests/e2e/test_workflow_interceptors.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, NoReturn

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal._runtime.query import QueryError
from tidal.converter import DataConverter
from tidal.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowOutboundInterceptor,
)
from tidal_schema import Payload, commands
from tidal_schema.messages import QueryErrorKind

CONV = DataConverter.default
T = timedelta(seconds=10)


def _new(cls: type, h: HistoryBuilder, *classes: type[WorkflowInboundInterceptor]) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
        interceptor_classes=classes,
    )


def _result(h: HistoryBuilder, cmds: Any) -> Any:
    done = next(c for c in cmds if isinstance(c, commands.CompleteWorkflowExecution))
    return h.converter.from_payloads(done.result, [None])[0]


LOG: list[str] = []


class Outer(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        LOG.append("outer")
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        LOG.append(f"outer:{input.signal}")
        await super().handle_signal(input)


class Inner(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        LOG.append("inner")
        input.args = [f"{input.args[0]}!"]
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        LOG.append(f"inner:{input.signal}")
        await super().handle_signal(input)


class Waits(WorkflowInboundInterceptor):
    """Waits inside handle_signal: the (sync) handler then runs later, as a task."""

    async def handle_signal(self, input: HandleSignalInput) -> None:
        await asyncio.sleep(0)
        await super().handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        await asyncio.sleep(0)
        return await super().handle_query(input)


@workflow.defn
class Notes:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self, name: str) -> list[str]:
        # What the run method sees at its first step: signals of the first task already applied.
        first = list(self.seen)
        await workflow.wait_condition(lambda: len(self.seen) >= 2)
        return [name, *first, "|", *self.seen]

    @workflow.signal
    def note(self, value: str) -> None:
        self.seen.append(value)

    @workflow.query
    def count(self) -> int:
        return len(self.seen)


def test_first_interceptor_is_outermost_and_sync_signals_still_precede_the_run_method() -> None:
    LOG.clear()
    h = HistoryBuilder("Notes", "n")
    h.signal("note", "a")
    inst = _new(Notes, h, Outer, Inner)
    h.complete_task(inst.activate(h.task()))
    h.signal("note", "b")
    h.schedule_task()
    cmds = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    # `a` came with the first task: handled before the run method's first step, as without
    # interceptors; the inner interceptor's argument change reached the run method.
    assert _result(h, cmds) == ["n!", "a", "|", "a", "b"]
    assert LOG == ["outer:note", "inner:note", "outer", "inner", "outer:note", "inner:note"]


def test_a_chain_that_waits_still_delivers_the_signal() -> None:
    h = HistoryBuilder("Notes", "n")
    h.signal("note", "a")
    inst = _new(Notes, h, Waits)
    h.complete_task(inst.activate(h.task()))
    h.signal("note", "b")
    h.schedule_task()
    cmds = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    # The waiting chain let the run method start first, so it saw no signal yet.
    assert _result(h, cmds) == ["n", "|", "a", "b"]


def test_a_query_chain_that_waits_is_refused() -> None:
    h = HistoryBuilder("Notes", "n")
    inst = _new(Notes, h, Waits)
    h.complete_task(inst.activate(h.task()))
    with pytest.raises(QueryError) as err:
        inst.query("count")
    assert err.value.kind is QueryErrorKind.HANDLER_FAILED
    assert "must answer at once" in str(err.value)


class Stamping(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_StampingOutbound(outbound))


class _StampingOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> Any:
        input.headers = {**input.headers, "stamp": Payload(data="s1")}
        input.args = [*input.args, "extra"]
        input.disable_eager_execution = True
        return super().start_activity(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        input.headers = {"stamp": Payload(data="can")}
        input.args = ["rewritten"]
        super().continue_as_new(input)


@workflow.defn
class Stamped:
    @workflow.run
    async def run(self, again: bool) -> None:
        await workflow.execute_activity("act", "x", start_to_close_timeout=T, activity_id="a1")
        if again:
            workflow.continue_as_new(False)


def test_outbound_changes_reach_the_commands() -> None:
    h = HistoryBuilder("Stamped", True)
    inst = _new(Stamped, h, Stamping)
    cmds = inst.activate(h.task())
    (schedule,) = [c for c in cmds if isinstance(c, commands.ScheduleActivityTask)]
    assert schedule.header == {"stamp": Payload(data="s1")}
    assert CONV.from_payloads(schedule.input, [None, None]) == ["x", "extra"]
    assert inst.activities.no_eager_ids == {"a1"}
    h.complete_task(cmds)
    h.activity_completed("a1")
    h.schedule_task()
    cmds = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    (can,) = [c for c in cmds if isinstance(c, commands.ContinueAsNewWorkflowExecution)]
    assert can.header == {"stamp": Payload(data="can")}
    assert CONV.from_payloads(can.input, [None]) == ["rewritten"]


def test_without_interceptors_commands_carry_no_header() -> None:
    h = HistoryBuilder("Stamped", False)
    inst = _new(Stamped, h)
    (schedule,) = [c for c in inst.activate(h.task()) if isinstance(c, commands.ScheduleActivityTask)]
    assert schedule.header == {}
    assert inst.activities.no_eager_ids == set()


def test_continue_as_new_error_cannot_be_built_directly() -> None:
    with pytest.raises(RuntimeError, match="continue_as_new"):
        workflow.ContinueAsNewError()
