"""The operation table: every operation runs only with an admission under its own policy,
whichever adapter calls it (HTTP routes and the AMQP command consumer hold no policy of their
own), and admission refuses a key without access and an unknown namespace."""

from __future__ import annotations

import inspect
import typing

import pytest
from pydantic import BaseModel
from tidal_frontend.app import FrontendService
from tidal_frontend.authn import Principal
from tidal_frontend.operations import OPERATIONS
from tidal_frontend.operations.policy import Admitted, Policy, admit
from tidal_frontend.problems import Problem
from tidal_server.apikeys import Role

from .conftest import FakeHistory


def _call_args(entry: typing.Callable[..., typing.Any]) -> list[typing.Any]:
    """The arguments after (ctx, admitted): a workflow id if it takes one, and a body that was
    never validated: the admission check must refuse before anything reads it."""
    hints = typing.get_type_hints(entry)
    args: list[typing.Any] = []
    for name, param in list(inspect.signature(entry).parameters.items())[2:]:
        if param.default is not inspect.Parameter.empty:
            continue
        if name in ("workflow_id", "schedule_id"):
            args.append("w")
        else:
            model = hints[name]
            assert issubclass(model, BaseModel), (entry, name)
            args.append(model.model_construct())
    return args


def test_the_table() -> None:
    assert set(OPERATIONS) == {
        "start_workflow",
        "signal_workflow",
        "cancel_workflow",
        "terminate_workflow",
        "update_workflow",
        "query_workflow",
        "create_schedule",
        "update_schedule",
        "pause_schedule",
        "trigger_schedule",
        "backfill_schedule",
        "delete_schedule",
    }
    starters = {"start_workflow", "create_schedule", "trigger_schedule", "backfill_schedule"}
    for op in OPERATIONS.values():
        assert isinstance(op.policy, Policy) and op.policy.namespace_must_exist
        assert op.policy.starts_runs == (op.name in starters), op.name
        assert op.policy.role is (Role.READER if op.name == "query_workflow" else Role.WRITER)
    amqp = {i for op in OPERATIONS.values() for i in op.ingress if i.startswith("amqp ")}
    assert amqp == {f"amqp {c}" for c in ("start", "signal-with-start", "signal", "cancel", "terminate")}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_every_operation_needs_its_own_admission(
    name: str, frontend: FrontendService, fake_history: FakeHistory
) -> None:
    op = OPERATIONS[name]
    ctx = frontend.context
    before = len(fake_history.received)
    outsider = Principal(key_id="k", namespace="elsewhere", role=Role.ADMIN)
    with pytest.raises(Problem) as refused:
        await admit(ctx, outsider, "default", op.policy)
    assert refused.value.code == "forbidden"
    if op.policy.role is not Role.READER:
        reader = Principal(key_id="k", namespace="default", role=Role.READER)
        with pytest.raises(Problem) as refused:
            await admit(ctx, reader, "default", op.policy)
        assert refused.value.code == "forbidden"
    admin = Principal(key_id="k", namespace="*", role=Role.ADMIN)
    with pytest.raises(Problem) as refused:
        await admit(ctx, admin, "no-such-namespace", op.policy)
    assert refused.value.code == "namespace_not_found"
    # An admission under another operation's policy does not open this one.
    other = Policy(role=Role.READER, namespace_must_exist=False)
    wrong = Admitted(who=admin, namespace="default", policy=other)
    with pytest.raises(RuntimeError, match="admitted under"):
        await op.entry(ctx, wrong, *_call_args(op.entry))
    assert len(fake_history.received) == before
