"""The frontend's operation layer: what the frontend does, free of any transport.

Every write a client can make reaches one module here, through one typed entry function
`op(ctx, caller, namespace, ..., request) -> answer`. The entry admits the request first
(`policy.admit`: the caller's role on the namespace, the namespace exists and, for starts, is not
deprecated, the per-namespace start rate limit), then builds the history message and waits for
history's answer. The HTTP routes (`api/`) and the AMQP command consumer (`commands.py`) are
adapters: they turn their input into the request model and the caller, and the answer or the
`Problem` raised into their own reply. So a rule added here holds on every ingress.

Read-only routes (describe, list, history, result, query) pass the same `policy.admit` through
the route dependency in `auth.require`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from . import cancel_workflow, signal_workflow, start_workflow, terminate_workflow
from .policy import Policy

__all__ = ["OPERATIONS", "Operation"]


@dataclass(frozen=True, kw_only=True)
class Operation:
    name: str
    policy: Policy
    entry: Callable[..., Awaitable[BaseModel]]
    ingress: tuple[str, ...]
    """Where clients reach it (documentation, and what tests check both adapters against)."""


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
    )
}
"""Every operation of the layer, by name."""
