"""Poison messages on a history shard (issue 9, defect 4): a message that cannot be applied or
committed is isolated from its batch, retried a bounded number of times, then dead-lettered with
its reason (or, for a workflow task completion, the task is failed), while every other message of
the shard is processed. On the in-memory bus with SQLite, and with Postgres (where jsonb cannot
keep a NUL)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_history import topology
from tidal_history.app import build
from tidal_history.poison import BAD_COMMAND_CAUSE
from tidal_history.store import HistoryStore
from tidal_schema import Payload, limits, names
from tidal_schema.commands import StartTimer
from tidal_schema.messages import (
    REPLY,
    CompleteWorkflowTask,
    ErrorReply,
    SignalWorkflowExecution,
    StartWorkflowExecution,
    UpdateWorkflowExecution,
)
from tidal_server.bus import DLQ_QUEUE, H_DELIVERY_ATTEMPT, H_DL_REASON, Delivery, InMemoryBus, OutMessage
from tidal_server.db import tables as t
from tidal_server.db.engine import create_engine
from tidal_server.db.migrate import migrate
from tidal_server.service import Runtime

from tests.support.stack import wait_for

FAST_POISON = {"history": {"poison_backoff_seconds": 0.05, "batch_max": 64}}


@pytest.fixture(autouse=True)
def _limits_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests need messages that get *past* validation and fail inside history; the schema's
    edge limits (tidal_schema.limits) refuse the overflow and NUL examples used here, so they are
    relaxed in this process to exercise the poison path as a foreign publisher would."""
    monkeypatch.setattr(limits, "MAX_DURATION", timedelta.max)
    monkeypatch.setattr(limits, "_NUL_ESCAPE", re.compile("(?!)"))


async def _runtime(url: str) -> Runtime:
    await migrate(url)
    bus = InMemoryBus()
    await bus.connect()
    return Runtime(
        bus=bus,
        engine=create_engine(url),
        member_id="h1",
        shard_count=1,
        embedded=True,
        overrides=FAST_POISON,
    )


@pytest.fixture
async def sqlite_runtime(tmp_path: Any) -> AsyncIterator[Runtime]:
    rt = await _runtime(f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}")
    yield rt
    await rt.engine.dispose()
    await rt.bus.close()


@pytest.fixture
async def pg_runtime(fresh_database_url: str) -> AsyncIterator[Runtime]:
    rt = await _runtime(fresh_database_url)
    yield rt
    await rt.engine.dispose()
    await rt.bus.close()


async def _send(rt: Runtime, msg: Any) -> None:
    await rt.bus.publish(
        OutMessage(
            exchange=names.HISTORY_EXCHANGE,
            routing_key=names.shard_routing_key(0),
            body=msg.model_dump_json().encode(),
        )
    )


async def _collect_dead_letters(rt: Runtime) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def take(d: Delivery) -> None:
        seen.append((json.loads(d.body), dict(d.headers)))
        await d.ack()

    await rt.bus.consume(DLQ_QUEUE, take)
    return seen


async def _statuses(rt: Runtime, prefix: str) -> dict[str, str]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(t.executions.c.workflow_id, t.executions.c.status).where(
                    t.executions.c.workflow_id.like(f"{prefix}%")
                )
            )
        ).all()
    return {r[0]: r[1] for r in rows}


def _start(wid: str, **kw: Any) -> StartWorkflowExecution:
    return StartWorkflowExecution(workflow_id=wid, workflow_type="T", task_queue="q", request_id=wid, **kw)


async def test_an_overflowing_start_is_dead_lettered_and_the_rest_of_its_batch_commits(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    dead = await _collect_dead_letters(rt)
    service = build(rt)
    await service.start()
    try:
        # 10_000_000 days after now is past datetime.max: OverflowError in the pure transition, on
        # every attempt. The good starts are published around it, so they share its batches.
        bad = _start("bad-overflow", workflow_run_timeout=timedelta(days=10_000_000))
        for i in range(5):
            await _send(rt, _start(f"good-{i}"))
        reply = asyncio.create_task(
            rt.bus.request(
                OutMessage(
                    exchange=names.HISTORY_EXCHANGE,
                    routing_key=names.shard_routing_key(0),
                    body=bad.model_dump_json().encode(),
                ),
                timeout=20,
            )
        )
        for i in range(5, 10):
            await _send(rt, _start(f"good-{i}"))

        async def all_good_started() -> bool:
            return len(await _statuses(rt, "good-")) == 10

        await wait_for(all_good_started, timeout=20, what="the 10 good starts to commit")
        answer = REPLY.validate_json((await reply).body)
        assert isinstance(answer, ErrorReply) and answer.code == "invalid_argument"
        assert "OverflowError" in answer.message
        await wait_for(lambda: len(dead) == 1, timeout=20, what="the bad start dead-lettered")
        body, headers = dead[0]
        assert body["workflow_id"] == "bad-overflow"
        assert "OverflowError" in headers[H_DL_REASON] and "after 3 attempts" in headers[H_DL_REASON]
        assert headers[H_DELIVERY_ATTEMPT] == 3
        assert await _statuses(rt, "bad-") == {}
        # The shard goes on: a later message is processed.
        await _send(rt, _start("after"))
        await wait_for(lambda: _has(rt, "after"), timeout=20, what="a later start")
    finally:
        await service.stop()


async def _has(rt: Runtime, wid: str) -> bool:
    return wid in await _statuses(rt, wid)


async def test_a_completion_with_an_unappliable_command_fails_the_workflow_task(
    sqlite_runtime: Runtime,
) -> None:
    rt = sqlite_runtime
    service = build(rt)
    await service.start()
    try:
        await _send(rt, _start("wf"))
        await wait_for(lambda: _has(rt, "wf"), timeout=20, what="the start")
        async with rt.engine.connect() as conn:
            run_id = (await conn.execute(sa.select(t.executions.c.run_id))).scalar_one()
        # workflow.sleep(timedelta(days=10_000_000)) as a worker would send it.
        complete = CompleteWorkflowTask(
            workflow_id="wf",
            run_id=run_id,
            scheduled_event_id=2,
            commands=(StartTimer(timer_id="t", start_to_fire_timeout=timedelta(days=10_000_000)),),
        )
        await _send(rt, complete)

        async def events() -> list[tuple[str, Any]]:
            async with rt.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(t.history_events.c.event_type, t.history_events.c.data).order_by(
                            t.history_events.c.event_id
                        )
                    )
                ).all()
            return [(r[0], r[1]) for r in rows]

        async def task_failed() -> bool:
            return any(e == "WorkflowTaskFailed" for e, _ in await events())

        await wait_for(task_failed, timeout=20, what="WorkflowTaskFailed")
        data = next(d for e, d in await events() if e == "WorkflowTaskFailed")
        text = json.dumps(data)
        assert BAD_COMMAND_CAUSE in text and "OverflowError" in text
        # The run is still running, its task retried later: not stuck on a vanished completion.
        assert (await _statuses(rt, "wf"))["wf"] == "Running"
    finally:
        await service.stop()


async def test_a_nul_signal_does_not_stop_its_shard_on_postgres(pg_runtime: Runtime) -> None:
    rt = pg_runtime
    dead = await _collect_dead_letters(rt)
    service = build(rt)
    await service.start()
    try:
        await _send(rt, _start("target"))
        await wait_for(lambda: _has(rt, "target"), timeout=20, what="the signal's target")
        # Postgres jsonb cannot store \u0000: the commit fails with SQLSTATE 22P05 on every try.
        nul = SignalWorkflowExecution(
            workflow_id="target",
            signal_name="s",
            input=(Payload(data="a\x00b"),),
            request_id="nul-signal",
        )
        await _send(rt, nul)
        for i in range(10):
            await _send(rt, _start(f"good-{i}"))

        async def all_good_started() -> bool:
            return len(await _statuses(rt, "good-")) == 10

        await wait_for(all_good_started, timeout=30, what="the 10 good starts to commit")
        await wait_for(lambda: len(dead) == 1, timeout=30, what="the NUL signal dead-lettered")
        body, headers = dead[0]
        assert body["type"] == "SignalWorkflowExecution"
        assert "22P05" in headers[H_DL_REASON] or "Untranslatable" in headers[H_DL_REASON], headers
        await _send(rt, _start("after"))
        await wait_for(lambda: _has(rt, "after"), timeout=20, what="a later start")
    finally:
        await service.stop()


async def test_nul_in_every_json_field_a_client_controls_is_isolated_on_postgres(pg_runtime: Runtime) -> None:
    """tidal_write_batch (migration 0005) takes a batch in one statement: a NUL that got past
    validation in a memo, a signal or update header, or a search attribute (the visibility path)
    fails that statement for the whole batch. Each offender is isolated, dead-lettered with the
    SQLSTATE, and the rest of its batch commits (held: no fix needed)."""
    rt = pg_runtime
    dead = await _collect_dead_letters(rt)
    service = build(rt)
    await service.start()
    try:
        await _send(rt, _start("target"))
        await wait_for(lambda: _has(rt, "target"), timeout=20, what="the target")
        nul = Payload(data="a\x00b")
        bad = [
            _start("bad-memo", memo={"m": nul}),
            _start("bad-attribute", search_attributes={"Tag": "a\x00b"}),
            SignalWorkflowExecution(
                workflow_id="target", signal_name="s", request_id="bad-header", header={"h": nul}
            ),
            UpdateWorkflowExecution(
                workflow_id="target", update_id="bad-update", name="u", header={"h": nul}
            ),
        ]
        for i, message in enumerate(bad):
            await _send(rt, message)
            await _send(rt, _start(f"good-{i}"))

        async def all_good_started() -> bool:
            return len(await _statuses(rt, "good-")) == len(bad)

        await wait_for(all_good_started, timeout=30, what="the good starts to commit")
        await wait_for(lambda: len(dead) == len(bad), timeout=30, what="every NUL message dead-lettered")
        assert sorted(b["type"] for b, _ in dead) == sorted(m.type for m in bad)
        for _, headers in dead:
            assert "22P05" in headers[H_DL_REASON] or "Untranslatable" in headers[H_DL_REASON], headers
        assert set(await _statuses(rt, "bad-")) == set()
        await _send(rt, _start("after"))
        await wait_for(lambda: _has(rt, "after"), timeout=20, what="a later start")
    finally:
        await service.stop()


async def test_an_invalid_request_is_answered_not_left_to_time_out(sqlite_runtime: Runtime) -> None:
    """A requester (the frontend) waiting on a message history dead-letters as invalid gets an
    ErrorReply at once; without it the request times out and the same request is retried forever
    (the AMQP command path requeues on a timeout)."""
    rt = sqlite_runtime
    service = build(rt)
    await service.start()
    try:
        body = b'{"type": "StartWorkflowExecution", "workflow_id": "w"}'  # no type, queue, request id
        out = OutMessage(exchange=names.HISTORY_EXCHANGE, routing_key=names.shard_routing_key(0), body=body)
        answer = REPLY.validate_json((await rt.bus.request(out, timeout=5)).body)
        assert isinstance(answer, ErrorReply) and answer.code == "invalid_argument"
        assert "invalid history message" in answer.message and "workflow_type" in answer.message
    finally:
        await service.stop()


async def test_a_poison_message_is_isolated_by_bisection(
    sqlite_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bad message among 31 good ones in a single batch: the good ones commit in a handful of
    transactions (bisection), not one each."""
    rt = sqlite_runtime
    commits: list[int] = []
    real_commit = HistoryStore.commit

    async def counting(self: HistoryStore, **kw: Any) -> Any:
        commits.append(len(kw["writes"]))
        return await real_commit(self, **kw)

    monkeypatch.setattr(HistoryStore, "commit", counting)
    await topology.declare(rt.bus, 1)  # queued before the shard is consumed: one batch
    for i in range(32):
        if i == 20:
            await _send(rt, _start("bad-overflow", workflow_run_timeout=timedelta(days=10_000_000)))
        else:
            await _send(rt, _start(f"good-{i}"))
    service = build(rt)
    await service.start()
    try:

        async def all_good_started() -> bool:
            return len(await _statuses(rt, "good-")) == 31

        await wait_for(all_good_started, timeout=20, what="the 31 good starts to commit")
        # 32 -> 16 ok + 16 -> 8 ok + 8 -> 4 ok + 4 -> 2 ok + 2 -> 1 ok + the offender alone.
        assert len(commits) <= 6, commits
    finally:
        await service.stop()
