"""Updates in the runtime: validators reject (no handler runs), accepted handlers complete in the
same or a later activation, and replay re-runs exactly the accepted updates."""

from __future__ import annotations

from tidal import workflow
from tidal._runtime import WorkflowInstance
from tidal._runtime.history_builder import HistoryBuilder
from tidal.converter import DataConverter
from tidal.exceptions import ApplicationError
from tidal_schema import Payload, events
from tidal_schema.commands import ProtocolMessage
from tidal_schema.messages import UpdateRequest

CONV = DataConverter.default


@workflow.defn
class Box:
    def __init__(self) -> None:
        self.things: list[str] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def put(self, thing: str) -> int:
        self.things.append(thing)
        return len(self.things)

    @put.validator
    def _no_rocks(self, thing: str) -> None:
        if thing == "rock":
            raise ApplicationError("no rocks")

    @workflow.query
    def count(self) -> int:
        return len(self.things)


def _new(h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(Box),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def test_validate_accept_complete_and_replay() -> None:
    h = HistoryBuilder("Box")
    inst = _new(h)
    h.complete_task(inst.activate(h.task()))
    h.schedule_task()
    requests = (
        UpdateRequest(update_id="u1", name="put", input=CONV.to_payloads(["sock"])),
        UpdateRequest(update_id="u2", name="put", input=CONV.to_payloads(["rock"])),
        UpdateRequest(update_id="u3", name="nope"),
    )
    task = h.task(first_event_id=inst.last_event_id + 1).model_copy(update={"updates": requests})
    out = inst.activate(task)
    assert all(isinstance(c, ProtocolMessage) for c in out)
    got = [(c.update_id, c.kind) for c in out if isinstance(c, ProtocolMessage)]
    assert got == [("u1", "accept"), ("u2", "reject"), ("u3", "reject"), ("u1", "complete")]
    rejected = {c.update_id: c.failure for c in out if isinstance(c, ProtocolMessage) and c.kind == "reject"}
    assert rejected["u2"] is not None and rejected["u2"].message == "no rocks"
    assert rejected["u3"] is not None and "unknown update" in rejected["u3"].message
    complete = out[-1]
    assert isinstance(complete, ProtocolMessage) and complete.result == (Payload(data=1),)
    assert inst.query("count").data == 1

    # History records only the accepted update; a fresh instance replays it (validator not run).
    h.complete_task([])
    accepted = h.add(
        events.WorkflowExecutionUpdateAccepted(update_id="u1", name="put", input=requests[0].input)
    )
    h.add(
        events.WorkflowExecutionUpdateCompleted(
            update_id="u1", accepted_event_id=accepted.event_id, result=(Payload(data=1),)
        )
    )
    h.schedule_task()
    replayed = _new(h)
    assert replayed.activate(h.task()) == ()
    assert replayed.query("count").data == 1
    # And the sticky instance takes the same events without running the update again.
    assert inst.activate(h.task(first_event_id=inst.last_event_id + 1)) == ()
    assert inst.query("count").data == 1
