"""The operation table (dispatch.py): every message type history consumes has exactly one entry, each
entry is one operation module's `handle(ctx, msg)`; a message without an operation is
dead-lettered with the reason, and the shard goes on. The dead-letter part runs on the in-memory
bus with SQLite (embedded) and on RabbitMQ with Postgres."""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_history import dispatch
from tidal_history.app import build
from tidal_history.operation import Load, OperationContext
from tidal_schema import names
from tidal_schema.messages import (
    REPLY,
    ErrorReply,
    FireTimer,
    HistoryMessage,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    TimerKind,
)
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, AmqpBus, Bus, Delivery, InMemoryBus, OutMessage
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for


def _message_types() -> list[type]:
    union = typing.get_args(HistoryMessage)[0]
    return list(typing.get_args(union))


def test_every_history_message_type_has_exactly_one_entry() -> None:
    types = _message_types()
    assert len(types) == len(set(types)) and len(types) >= 30
    by_type = {k for k in dispatch.OPERATIONS if isinstance(k, type)}
    assert by_type == set(types)
    # The only other keys: FireTimer's kinds that are operations of their own.
    kinds = [k for k in dispatch.OPERATIONS if not isinstance(k, type)]
    assert sorted(k[1].value for k in kinds) == sorted([TimerKind.RETENTION.value, TimerKind.SCHEDULE.value])
    assert all(k[0] is FireTimer for k in kinds)


def test_each_entry_is_one_operation_modules_handle_of_ctx_and_msg() -> None:
    modules = [op.handle.__module__ for op in dispatch.OPERATIONS.values()]
    assert len(modules) == len(set(modules)), "one operation, one module"
    for key, op in dispatch.OPERATIONS.items():
        assert op.handle.__name__ == "handle" and op.handle.__module__.startswith("tidal_history.api.")
        params = list(inspect.signature(op.handle).parameters.values())
        assert [p.name for p in params] == ["ctx", "msg"], key
        assert params[0].annotation in (OperationContext, "OperationContext"), key
        if isinstance(key, type):
            # The message annotation names the entry's type (a string under `from __future__`).
            assert params[1].annotation in (key, key.__name__), key
        if op.load is Load.SCHEDULE:
            assert not op.answers_missing and not op.limits


def test_fire_timer_kinds_reach_their_own_operations() -> None:
    def fire(kind: TimerKind) -> FireTimer:
        return FireTimer(workflow_id="w", run_id="r", kind=kind, key="k")

    retention = dispatch.operation_for(fire(TimerKind.RETENTION))
    tick = dispatch.operation_for(fire(TimerKind.SCHEDULE))
    user = dispatch.operation_for(fire(TimerKind.USER_TIMER))
    assert retention is not None and retention.retention and retention.load is Load.RUN
    assert tick is not None and tick.load is Load.SCHEDULE
    assert user is dispatch.OPERATIONS[FireTimer]


# --- an unknown message on a running shard --------------------------------------------------------


@pytest.fixture(params=["embedded", "stack"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Runtime]:
    if request.param == "stack":
        url = request.getfixturevalue("fresh_database_url")
        bus: Bus = AmqpBus(request.getfixturevalue("fresh_vhost_amqp_url"), connection_name="tidal-test-ops")
    else:
        url, bus = f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}", InMemoryBus()
    await migrate(url)
    await bus.connect()
    rt = Runtime(
        bus=bus,
        engine=create_engine(url),
        member_id="h1",
        shard_count=1,
        embedded=request.param == "embedded",
        overrides={"history": {"poison_backoff_seconds": 0.05}},
    )
    try:
        yield rt
    finally:
        await rt.engine.dispose()
        await bus.close()


def _out(body: bytes) -> OutMessage:
    return OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)


async def _started(rt: Runtime, workflow_id: str) -> bool:
    async with rt.engine.connect() as conn:
        found = await conn.execute(
            sa.select(t.executions.c.run_id).where(t.executions.c.workflow_id == workflow_id)
        )
        return found.first() is not None


async def test_a_message_without_an_operation_is_dead_lettered_with_the_reason(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime
    dead: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def take(d: Delivery) -> None:
        dead.append((json.loads(d.body), dict(d.headers)))
        await d.ack()

    # A type the schema knows but no operation handles (a sender newer than this history).
    table = {k: v for k, v in dispatch.OPERATIONS.items() if k is not SignalWorkflowExecution}
    monkeypatch.setattr(dispatch, "OPERATIONS", table)
    service = build(rt)
    await service.start()
    await rt.bus.consume(DLQ_QUEUE, take)
    try:
        # A type nobody knows, in the same stream.
        await rt.bus.publish(_out(b'{"type": "NoSuchOperation", "workflow_id": "w-unknown"}'))
        signal = SignalWorkflowExecution(workflow_id="w-signal", signal_name="go", request_id="s1")
        reply = asyncio.create_task(rt.bus.request(_out(signal.model_dump_json().encode()), timeout=20))
        answer = REPLY.validate_json((await reply).body)
        assert isinstance(answer, ErrorReply) and answer.code == "invalid_argument"
        assert "no operation for history message SignalWorkflowExecution" in answer.message
        await wait_for(lambda: len(dead) == 2, timeout=20, what="both messages dead-lettered")
        reasons = {body["workflow_id"]: headers[H_DL_REASON] for body, headers in dead}
        assert reasons["w-signal"] == "no operation for history message SignalWorkflowExecution"
        assert reasons["w-unknown"].startswith("invalid history message:")
        assert "NoSuchOperation" in reasons["w-unknown"]
        # Neither wedged the shard: a start after them commits.
        start = StartWorkflowExecution(workflow_id="after", workflow_type="T", task_queue="q", request_id="a")
        await rt.bus.publish(_out(start.model_dump_json().encode()))
        await wait_for(lambda: _started(rt, "after"), timeout=20, what="a later start to commit")
    finally:
        await service.stop()
