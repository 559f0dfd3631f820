"""Handlers at run time (temporalio's `workflow.set_*_handler`, dynamic handlers, `@workflow.init`,
dynamic workflows), unfinished-handler warnings, `current_update_info`, read-only contexts, and
the run's randomness (`random_seed`, `new_random`, `uuid7`)."""

from __future__ import annotations

import random
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal._runtime.instance import WorkflowTaskError
from tidal._runtime.query import QueryError
from tidal.common import RawValue
from tidal.converter import DataConverter
from tidal.exceptions import ApplicationError
from tidal_schema import commands
from tidal_schema.commands import ProtocolMessage
from tidal_schema.messages import QueryErrorKind, UpdateRequest

CONV = DataConverter.default


def _new(cls: type, h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def _next(inst: WorkflowInstance, h: HistoryBuilder, updates: Sequence[UpdateRequest] = ()) -> Any:
    task = h.task(first_event_id=inst.last_event_id + 1)
    if updates:
        task = task.model_copy(update={"updates": tuple(updates)})
    return inst.activate(task)


def _result(h: HistoryBuilder, cmds: Any, type_: Any) -> Any:
    done = next(c for c in cmds if isinstance(c, commands.CompleteWorkflowExecution))
    return h.converter.from_payloads(done.result, [type_])[0]


# --- signals ------------------------------------------------------------------------------------


@workflow.defn
class LateSignals:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: workflow.info().get_current_history_length() > 3)
        # Signals sent before this line were buffered; setting the handler delivers them in order.
        workflow.set_signal_handler("note", lambda v: self.seen.append(f"note:{v}"))
        assert workflow.get_signal_handler("note") is not None
        assert workflow.get_signal_handler("other") is None
        await workflow.wait_condition(lambda: len(self.seen) >= 3)
        workflow.set_signal_handler("note", None)
        workflow.set_dynamic_signal_handler(lambda name, args: self.seen.append(f"dyn:{name}:{len(args)}"))
        await workflow.wait_condition(lambda: len(self.seen) >= 5)
        return self.seen


def test_set_signal_handler_delivers_buffered_signals_in_order_then_unset_goes_dynamic() -> None:
    h = HistoryBuilder("LateSignals")
    inst = _new(LateSignals, h)
    h.complete_task(inst.activate(h.task()))
    h.signal("note", "a")  # applied before run resumes: nothing handles them yet
    h.signal("note", "b")
    h.signal("other", 1, 2)
    h.schedule_task()
    h.complete_task(_next(inst, h))
    h.signal("note", "c")
    h.schedule_task()
    h.complete_task(_next(inst, h))
    h.signal("note", "d")
    h.schedule_task()
    cmds = _next(inst, h)
    # a and b were buffered, c reached the handler; after the unset the buffered "other" and then
    # d go to the dynamic handler.
    assert _result(h, cmds, list[str]) == ["note:a", "note:b", "note:c", "dyn:other:2", "dyn:note:1"]


@workflow.defn
class DecoratedThenReplaced:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        original = workflow.get_signal_handler("ping")
        assert original is not None
        original("direct")  # a decorated handler comes back bound to the workflow object
        workflow.set_signal_handler("ping", lambda v: self.seen.append(f"replaced:{v}"))
        await workflow.wait_condition(lambda: len(self.seen) >= 2)
        return self.seen

    @workflow.signal
    def ping(self, v: str) -> None:
        self.seen.append(f"decorated:{v}")


def test_set_signal_handler_replaces_a_decorated_one() -> None:
    h = HistoryBuilder("DecoratedThenReplaced")
    inst = _new(DecoratedThenReplaced, h)
    h.complete_task(inst.activate(h.task()))
    h.signal("ping", "x")
    h.schedule_task()
    assert _result(h, _next(inst, h), list[str]) == ["decorated:direct", "replaced:x"]


# --- queries ------------------------------------------------------------------------------------


@workflow.defn
class Queries:
    def __init__(self) -> None:
        self.n = 7

    @workflow.run
    async def run(self) -> None:
        workflow.set_query_handler("n", lambda: self.n)
        workflow.set_dynamic_query_handler(lambda name, args: f"{name}/{len(args)}")
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def replay_flags(self) -> list[bool]:
        return [workflow.unsafe.is_read_only(), workflow.unsafe.is_replaying_history_events()]

    @workflow.query
    def sneaky(self) -> None:
        workflow.start_activity("act", start_to_close_timeout=__import__("datetime").timedelta(seconds=1))

    @workflow.query
    def sets_handler(self) -> None:
        workflow.set_signal_handler("x", lambda: None)


def test_query_handlers_set_at_run_time_and_dynamic() -> None:
    h = HistoryBuilder("Queries")
    inst = _new(Queries, h)
    h.complete_task(inst.activate(h.task()))
    assert CONV.from_payload(inst.query("n")) == 7
    assert CONV.from_payload(inst.query("whatever", CONV.to_payloads([1, 2]))) == "whatever/2"
    assert CONV.from_payload(inst.query("replay_flags")) == [True, False]


def test_a_query_that_tries_a_command_gets_read_only_context_error_at_the_call() -> None:
    h = HistoryBuilder("Queries")
    inst = _new(Queries, h)
    h.complete_task(inst.activate(h.task()))
    for name in ("sneaky", "sets_handler"):
        with pytest.raises(QueryError) as err:
            inst.query(name)
        assert err.value.kind is QueryErrorKind.HANDLER_FAILED
        assert isinstance(err.value.__cause__, workflow.ReadOnlyContextError)
        assert "read-only" in str(err.value)


# --- updates ------------------------------------------------------------------------------------


@workflow.defn
class UpdatesAtRunTime:
    def __init__(self) -> None:
        self.infos: list[tuple[str, str] | None] = []

    @workflow.run
    async def run(self) -> None:
        assert workflow.current_update_info() is None

        async def add(x: int) -> int:
            info = workflow.current_update_info()
            self.infos.append((info.id, info.name) if info else None)
            return x + 1

        workflow.set_update_handler("add", add, validator=self._positive)
        await workflow.wait_condition(lambda: False)

    def _positive(self, x: int) -> None:
        info = workflow.current_update_info()
        assert info is not None and info.name == "add"
        if x < 0:
            raise ValueError("negative")

    @workflow.update(dynamic=True)
    def anything(self, name: str, args: Sequence[RawValue]) -> str:
        return f"{name}:{len(args)}"


def test_update_handler_set_by_run_accepts_an_update_in_the_first_task() -> None:
    # Before: the update was looked up before run started, so it was rejected as unknown.
    h = HistoryBuilder("UpdatesAtRunTime")
    inst = _new(UpdatesAtRunTime, h)
    requests = [
        UpdateRequest(update_id="u1", name="add", input=CONV.to_payloads([41])),
        UpdateRequest(update_id="u2", name="add", input=CONV.to_payloads([-1])),
        UpdateRequest(update_id="u3", name="free", input=CONV.to_payloads([1, 2, 3])),
    ]
    out = inst.activate(h.task().model_copy(update={"updates": tuple(requests)}))
    msgs = {(c.update_id, c.kind): c for c in out if isinstance(c, ProtocolMessage)}
    assert set(msgs) == {
        ("u1", "accept"),
        ("u1", "complete"),
        ("u2", "reject"),
        ("u3", "accept"),
        ("u3", "complete"),
    }
    assert CONV.from_payloads(msgs["u1", "complete"].result, [int]) == [42]
    assert CONV.from_payloads(msgs["u3", "complete"].result, [str]) == ["free:3"]
    assert msgs["u2", "reject"].failure is not None and "negative" in msgs["u2", "reject"].failure.message
    assert inst.workflow_object.infos == [("u1", "add")]


@workflow.defn
class WritingValidator:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    def put(self) -> None:
        pass

    @put.validator
    def _bad(self) -> None:
        workflow.set_signal_handler("x", lambda: None)


def test_an_update_validator_that_tries_a_command_fails_the_task() -> None:
    h = HistoryBuilder("WritingValidator")
    inst = _new(WritingValidator, h)
    h.complete_task(inst.activate(h.task()))
    h.schedule_task()
    with pytest.raises(WorkflowTaskError) as err:
        _next(inst, h, [UpdateRequest(update_id="u1", name="put")])
    assert "ReadOnlyContextError" in str(err.value)


# --- unfinished handlers ------------------------------------------------------------------------


@workflow.defn
class LeavesHandlersRunning:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: workflow.info().get_current_history_length() > 3)

    @workflow.signal
    async def slow(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def quiet(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def long(self) -> None:
        await workflow.wait_condition(lambda: False)


def _close_with_running(signals: Sequence[str], updates: Sequence[str]) -> list[warnings.WarningMessage]:
    h = HistoryBuilder("LeavesHandlersRunning")
    inst = _new(LeavesHandlersRunning, h)
    h.complete_task(inst.activate(h.task()))
    for s in signals:
        h.signal(s)
    h.schedule_task()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cmds = _next(inst, h, [UpdateRequest(update_id=f"id-{u}", name=u) for u in updates])
    assert any(isinstance(c, commands.CompleteWorkflowExecution) for c in cmds)
    return list(caught)


def test_a_run_closing_with_handlers_running_warns_as_temporalio() -> None:
    caught = _close_with_running(["slow", "slow", "quiet"], ["long"])
    by_type = {type(w.message): str(w.message) for w in caught}
    assert set(by_type) == {
        workflow.UnfinishedSignalHandlersWarning,
        workflow.UnfinishedUpdateHandlersWarning,
    }
    assert '[{"name": "slow", "count": 2}]' in by_type[workflow.UnfinishedSignalHandlersWarning]
    assert '[{"name": "long", "id": "id-long"}]' in by_type[workflow.UnfinishedUpdateHandlersWarning]


def test_abandon_policy_handlers_do_not_warn() -> None:
    assert _close_with_running(["quiet"], []) == []


# --- init and dynamic workflows -----------------------------------------------------------------


@workflow.defn
class WithInit:
    @workflow.init
    def __init__(self, name: str) -> None:
        self.greeting = f"hello {name}"

    @workflow.run
    async def run(self, name: str) -> str:
        return self.greeting


def test_init_receives_the_run_arguments() -> None:
    h = HistoryBuilder("WithInit", "ada")
    cmds = _new(WithInit, h).activate(h.task())
    assert _result(h, cmds, str) == "hello ada"


def test_init_must_take_the_run_parameters() -> None:
    class Mismatch:
        @workflow.init
        def __init__(self, other: int) -> None:
            pass

        @workflow.run
        async def run(self, name: str) -> None:
            pass

    with pytest.raises(ValueError, match="same parameters"):
        workflow.defn(Mismatch)
    with pytest.raises(ValueError, match="only be used on the __init__"):
        workflow.init(lambda self: None)


@workflow.defn(dynamic=True)
class AnyType:
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> str:
        values = [workflow.payload_converter().from_payload(a.payload, int) for a in args]
        return f"{workflow.info().workflow_type}:{sum(values)}"


def test_a_dynamic_workflow_gets_raw_values_and_its_type_in_info() -> None:
    definition = workflow.get_definition(AnyType)
    assert definition.dynamic and definition.name == ""
    h = HistoryBuilder("Whatever", 2, 3)
    assert _result(h, _new(AnyType, h).activate(h.task()), str) == "Whatever:5"
    with pytest.raises(ValueError, match="no name"):
        workflow.defn(name="x", dynamic=True)


# --- randomness, uuid7, failure exceptions -------------------------------------------------------


@workflow.defn(failure_exception_types=[KeyError])
class Randomness:
    @workflow.run
    async def run(self) -> list[Any]:
        seed = workflow.random_seed()
        same = random.Random(seed).random() == workflow.new_random().random() == workflow.random().random()
        named = workflow.new_random("a").random() != workflow.new_random("b").random()
        workflow.register_random_seed_callback(lambda s: None)
        ids = [workflow.uuid7() for _ in range(3)]
        flags = [
            workflow.is_failure_exception(KeyError()),
            workflow.is_failure_exception(ApplicationError("x")),
            workflow.is_failure_exception(ValueError()),
        ]
        return [same, named, [str(u) for u in ids], flags]


def test_random_seed_new_random_and_uuid7_are_deterministic() -> None:
    h = HistoryBuilder("Randomness")
    first = _result(h, _new(Randomness, h).activate(h.task()), list[Any])
    again = _result(h, _new(Randomness, h).activate(h.task()), list[Any])
    assert first == again  # the same on replay
    same, named, ids, flags = first
    assert same and named and flags == [True, True, False]
    parsed = [uuid.UUID(u) for u in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(parsed)) == 3
    # The leading 48 bits are the workflow time (the task's scheduled time) in milliseconds.
    assert all(u.int >> 80 == int(h.now.timestamp() * 1000) for u in parsed)


@workflow.defn(dynamic=True)
class ConfiguredPerType:
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> None:
        raise KeyError(workflow.info().workflow_type)

    @workflow.dynamic_config
    def config(self) -> workflow.DynamicWorkflowConfig:
        strict = workflow.info().workflow_type == "Strict"
        return workflow.DynamicWorkflowConfig(failure_exception_types=[KeyError] if strict else None)


def test_dynamic_config_sets_failure_exception_types_per_workflow_type() -> None:
    strict = HistoryBuilder("Strict")
    cmds = _new(ConfiguredPerType, strict).activate(strict.task())
    assert any(isinstance(c, commands.FailWorkflowExecution) for c in cmds)  # fails the workflow
    lenient = HistoryBuilder("Lenient")
    with pytest.raises(WorkflowTaskError):  # a KeyError only fails the task
        _new(ConfiguredPerType, lenient).activate(lenient.task())
    with pytest.raises(ValueError, match="dynamic workflows only"):

        @workflow.defn
        class NotDynamic:
            @workflow.run
            async def run(self) -> None:
                pass

            @workflow.dynamic_config
            def config(self) -> workflow.DynamicWorkflowConfig:
                return workflow.DynamicWorkflowConfig()
