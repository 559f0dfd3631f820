"""A dynamic signal handler receives every signal without a handler of its own."""

from __future__ import annotations

from collections.abc import Sequence

from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal.common import RawValue
from tidal_schema import commands


@workflow.defn
class Inbox:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.seen) >= 3)
        return self.seen

    @workflow.signal
    def known(self, value: str) -> None:
        self.seen.append(f"known:{value}")

    @workflow.signal(dynamic=True)
    def anything(self, name: str, args: Sequence[RawValue]) -> None:
        values = [workflow.payload_converter().from_payload(a.payload, int) for a in args]
        self.seen.append(f"{name}:{sum(values)}")


def test_dynamic_handler_gets_unknown_signals_and_named_ones_keep_their_handler() -> None:
    h = HistoryBuilder("Inbox")
    inst = WorkflowInstance(
        definition=workflow.get_definition(Inbox),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )
    h.complete_task(inst.activate(h.task()))
    h.signal("known", "a")
    h.signal("add", 1, 2)
    h.signal("mul", 7)
    h.schedule_task()
    cmds = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    done = next(c for c in cmds if isinstance(c, commands.CompleteWorkflowExecution))
    assert h.converter.from_payloads(done.result, [list[str]]) == [["known:a", "add:3", "mul:7"]]


def test_a_dynamic_handler_cannot_have_a_name() -> None:
    import pytest

    with pytest.raises(ValueError, match="no name"):
        workflow.signal(name="x", dynamic=True)
