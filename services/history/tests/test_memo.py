"""The memo as upserts leave it and its size bound (tidal_history/memo.py)."""

from tidal_history.memo import BAD_MEMO_CAUSE, current_memo, oversized_memo, upserted
from tidal_schema import HistoryEvent, Payload
from tidal_schema import commands as cmd
from tidal_schema import events as ev

NULL = Payload(metadata={"encoding": "binary/null"}, data=None)


def _history(memo: dict[str, Payload]) -> list[HistoryEvent]:
    started = ev.WorkflowExecutionStarted(workflow_type="W", task_queue="q", memo=memo)
    return [HistoryEvent(event_id=1, event_time="2026-01-01T00:00:00Z", attributes=started)]


def test_upserts_replace_and_remove_keys() -> None:
    memo = upserted({"a": Payload(data=1), "b": Payload(data=2)}, {"a": Payload(data=3), "b": NULL})
    assert memo == {"a": Payload(data=3)}
    assert current_memo(_history({"x": Payload(data=1)})) == {"x": Payload(data=1)}


def test_the_memo_an_upsert_leaves_is_bounded_not_each_upsert() -> None:
    history = _history({"a": Payload(data="m" * 600)})
    replace = cmd.ModifyWorkflowPropertiesCommand(upserted_memo={"a": Payload(data="n" * 600)})
    assert oversized_memo(history, [replace], limit=1024) is None
    add = cmd.ModifyWorkflowPropertiesCommand(upserted_memo={"b": Payload(data="n" * 600)})
    problem = oversized_memo(history, [add], limit=1024)
    assert problem is not None and "over the memo size limit of 1024 bytes" in problem
    remove_then_add = cmd.ModifyWorkflowPropertiesCommand(upserted_memo={"a": NULL})
    assert oversized_memo(history, [remove_then_add, add], limit=1024) is None
    assert oversized_memo(history, [cmd.CompleteWorkflowExecution()], limit=1) is None
    assert BAD_MEMO_CAUSE == "BadModifyWorkflowPropertiesAttributes"
