"""A run's memo as `workflow.upsert_memo` changes it, and the bound on its size. Pure; the
writer keeps the `executions.memo` column in step (visibility.py), complete_workflow_task refuses
an upsert that would take the memo past `MAX_MEMO_BYTES`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tidal_schema import HistoryEvent, Payload, sizes
from tidal_schema import commands as cmd
from tidal_schema import events as ev
from tidal_schema.limits import MAX_MEMO_BYTES

__all__ = ["BAD_MEMO_CAUSE", "NULL_ENCODING", "current_memo", "oversized_memo", "upserted"]

NULL_ENCODING = "binary/null"  # the payload of None: an upserted memo key with it is removed
# Temporal's WorkflowTaskFailedCause for a ModifyWorkflowProperties command it cannot apply.
BAD_MEMO_CAUSE = "BadModifyWorkflowPropertiesAttributes"


def upserted(memo: Mapping[str, Payload], changes: Mapping[str, Payload]) -> dict[str, Payload]:
    """`memo` with `changes` applied: each key's payload replaces the memo's, a `binary/null`
    payload removes the key."""
    out = dict(memo)
    for key, payload in changes.items():
        if payload.metadata.get("encoding") == NULL_ENCODING:
            out.pop(key, None)
        else:
            out[key] = payload
    return out


def current_memo(history: Iterable[HistoryEvent]) -> dict[str, Payload]:
    """A run's memo as its events leave them: the start's, with `workflow.upsert_memo`'s
    changes, as Temporal keeps it."""
    memo: dict[str, Payload] = {}
    for e in history:
        a = e.attributes
        if isinstance(a, ev.WorkflowExecutionStarted):
            memo = dict(a.memo)
        elif isinstance(a, ev.WorkflowPropertiesModified):
            memo = upserted(memo, a.upserted_memo)
    return memo


def _size(memo: Mapping[str, Payload]) -> int:
    return sum(len(k) for k in memo) + sizes.payloads_size(memo.values())


def oversized_memo(
    history: Sequence[HistoryEvent], commands: Sequence[cmd.Command], limit: int = MAX_MEMO_BYTES
) -> str | None:
    """Why the task's memo upserts cannot be applied (the memo they leave is over `limit`
    bytes), or None. Walks the history only for a task that upserts (rare)."""
    changes = [c.upserted_memo for c in commands if isinstance(c, cmd.ModifyWorkflowPropertiesCommand)]
    if not changes:
        return None
    memo = current_memo(history)
    for change in changes:
        memo = upserted(memo, change)
    size = _size(memo)
    if size <= limit:
        return None
    return (
        f"ModifyWorkflowProperties: the memo would be {size} bytes, over the memo size limit of "
        f"{limit} bytes (remove keys with upsert_memo({{key: None}}))"
    )
