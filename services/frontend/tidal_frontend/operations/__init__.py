"""The frontend's operation layer: what the frontend does, free of any transport.

Every client operation on a workflow is one module here with one typed entry function
`op(ctx, admitted, [workflow_id,] request) -> answer` and a `POLICY`, listed in `OPERATIONS`.
`admitted` comes only from `policy.admit(ctx, caller, namespace, op.POLICY)`, which checks the
caller's role on the namespace, that the namespace exists and, for starts, that it is not
deprecated and the per-namespace start rate limit has a token; the entry refuses an admission
made under another policy. The entry then builds the history message and waits for history's
answer. The HTTP routes (`api/`, admission in a route dependency) and the AMQP command
consumer (`commands.py`) are adapters: they admit with the operation's own `POLICY`, turn their
input into the request model, and the answer or the `Problem` raised into their own reply. So a
rule added here holds on every ingress.

The other routes (describe, list, count, history, result, task queues, async activity reports)
pass the same `policy.admit` through the route dependency in `auth.require`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from . import (
    backfill_schedule,
    cancel_workflow,
    create_schedule,
    delete_schedule,
    pause_schedule,
    query_workflow,
    signal_workflow,
    start_workflow,
    terminate_workflow,
    trigger_schedule,
    update_schedule,
    update_workflow,
)
from .policy import Policy

__all__ = ["OPERATIONS", "Operation"]


@dataclass(frozen=True, kw_only=True)
class Operation:
    name: str
    policy: Policy
    entry: Callable[..., Awaitable[BaseModel]]
    ingress: tuple[str, ...]
    """Where clients reach it (documentation, and what tests check both adapters against)."""


_ONE = "/namespaces/{namespace}/workflows/{workflow_id}"
_SCHED = "/namespaces/{namespace}/schedules/{schedule_id}"


def _op(name: str, module: Any, *ingress: str) -> Operation:
    return Operation(name=name, policy=module.POLICY, entry=getattr(module, name), ingress=ingress)


OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        _op(
            "start_workflow",
            start_workflow,
            "POST /namespaces/{namespace}/workflows",
            "amqp start",
            "amqp signal-with-start",
        ),
        _op(
            "signal_workflow",
            signal_workflow,
            "POST /namespaces/{namespace}/workflows/{workflow_id}/signal",
            "amqp signal",
        ),
        _op(
            "cancel_workflow",
            cancel_workflow,
            "POST /namespaces/{namespace}/workflows/{workflow_id}/cancel",
            "amqp cancel",
        ),
        _op(
            "terminate_workflow",
            terminate_workflow,
            "POST /namespaces/{namespace}/workflows/{workflow_id}/terminate",
            "amqp terminate",
        ),
        _op(
            "update_workflow", update_workflow, "POST /namespaces/{namespace}/workflows/{workflow_id}/update"
        ),
        _op("query_workflow", query_workflow, "POST /namespaces/{namespace}/workflows/{workflow_id}/query"),
        # schedules (docs/schedules.md)
        _op("create_schedule", create_schedule, "POST /namespaces/{namespace}/schedules"),
        _op("update_schedule", update_schedule, f"POST {_SCHED}/update"),
        _op("pause_schedule", pause_schedule, f"POST {_SCHED}/pause", f"POST {_SCHED}/unpause"),
        _op("trigger_schedule", trigger_schedule, f"POST {_SCHED}/trigger"),
        _op("backfill_schedule", backfill_schedule, f"POST {_SCHED}/backfill"),
        _op("delete_schedule", delete_schedule, f"DELETE {_SCHED}"),
    )
}
"""Every operation of the layer, by name."""
