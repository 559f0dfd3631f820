"""A result long poll for a run this frontend process started skips the first read (the start's
reply said the run exists; the watch is registered before anything could be missed), and still
answers right when the close was seen before the poll, or its notification never came.

Real RabbitMQ and Postgres; history is the conftest's fake (it answers starts from memory), so the
rows are the tests' own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.api import get_result
from tidal_frontend.app import FrontendService
from tidal_frontend.notifications import ClosedWaiters
from tidal_schema import Payload, WorkflowExecutionStatus, names
from tidal_schema.messages import WorkflowClosed
from tidal_server.bus import AmqpBus, OutMessage

from tests.support.polling import until

from .conftest import DEADLINE, close_run, insert_run, watched

BASE = "/api/v1/namespaces/default/workflows"
S = WorkflowExecutionStatus
PAYLOAD = {"metadata": {"encoding": "json/plain"}, "data": "done"}


def wid() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def reads(frontend: FrontendService, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """The run ids the frontend reads executions of."""
    store = frontend.context.store
    seen: list[str | None] = []
    real = store.execution

    async def counted(namespace: str, workflow_id: str, run: str | None) -> Any:
        seen.append(run)
        return await real(namespace, workflow_id, run)

    monkeypatch.setattr(store, "execution", counted)
    yield seen


async def _start(client: httpx.AsyncClient, w: str, request_id: str | None = None) -> str:
    body: dict[str, Any] = {"workflow_id": w, "workflow_type": "Greet", "task_queue": "tq"}
    if request_id is not None:
        body["request_id"] = request_id
    r = await client.post(BASE, json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["run_id"])


async def _notify(bus: AmqpBus, closed: WorkflowClosed) -> None:
    await bus.publish(
        OutMessage(exchange=names.NOTIFY_EXCHANGE, routing_key="", body=closed.model_dump_json().encode())
    )


def _completed(w: str, run_id: str, *, outcome: bool = True) -> WorkflowClosed:
    return WorkflowClosed(
        namespace="default",
        workflow_id=w,
        run_id=run_id,
        status=S.COMPLETED,
        has_outcome=outcome,
        result=(Payload.model_validate(PAYLOAD),) if outcome else None,
    )


async def _until_seen_closed(frontend: FrontendService, key: tuple[str, str, str]) -> None:
    # The notification went through the broker: nothing announces its handling.
    await until(
        lambda: not frontend.context.waiters.running_here(key), what="the close seen", deadline=DEADLINE
    )


async def test_a_poll_for_a_run_started_here_answers_from_the_notification_without_a_read(
    client: httpx.AsyncClient, frontend: FrontendService, frontend_bus: AmqpBus, reads: list[str | None]
) -> None:
    w = wid()
    run_id = await _start(client, w)
    key = ("default", w, run_id)
    assert frontend.context.waiters.running_here(key)
    with watched(frontend, key) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id}))
        async with asyncio.timeout(DEADLINE):
            await waiting.wait()
    async with asyncio.timeout(DEADLINE):
        await _notify(frontend_bus, _completed(w, run_id))
        r = await poll
    assert r.json()["status"] == "Completed" and r.json()["result"] == [PAYLOAD]
    assert reads == []  # no row exists (the fake history writes none): only the notification answered
    assert not frontend.context.waiters.running_here(key)
    assert not frontend.context.waiters.watching(key)


async def test_a_close_seen_before_the_poll_is_read_at_once(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    frontend: FrontendService,
    frontend_bus: AmqpBus,
    reads: list[str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A workflow that closes before its client polls (or a close handled before the start's
    reply): nothing would wake a watch, so the poll reads the run, as before, without waiting."""
    monkeypatch.setattr(get_result, "RECHECK_SECONDS", 60.0)  # a wait here would fail the deadline
    w = wid()
    run_id = await _start(client, w)
    await insert_run(engine, workflow_id=w, run_id=run_id)
    await close_run(engine, workflow_id=w, run_id=run_id, status=S.COMPLETED, result={"result": [PAYLOAD]})
    await _notify(frontend_bus, _completed(w, run_id))
    await _until_seen_closed(frontend, ("default", w, run_id))
    started = time.monotonic()
    async with asyncio.timeout(DEADLINE):
        r = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id})
    assert r.json()["status"] == "Completed" and r.json()["result"] == [PAYLOAD]
    assert reads == [run_id]
    assert time.monotonic() - started < DEADLINE


async def test_a_close_seen_before_the_start_was_answered_is_not_taken_for_running() -> None:
    """The notification and the start's reply come on different queues: a close handled first must
    still keep the run from counting as running here (remembered closes, bounded)."""
    waiters = ClosedWaiters(remember=2)
    key = ("default", "w", "r")
    waiters.dispatch(WorkflowClosed(namespace="default", workflow_id="w", run_id="r", status=S.COMPLETED))
    waiters.started_here(key)
    assert not waiters.running_here(key)
    # Twice the same close (a redelivery) and more starts and closes than remembered: bounded, and
    # a forgotten start only means a read.
    for i in range(5):
        waiters.started_here(("default", "w", f"s{i}"))
        closed = WorkflowClosed(namespace="default", workflow_id="w", run_id=f"c{i}", status=S.COMPLETED)
        waiters.dispatch(closed)
        waiters.dispatch(closed)
    assert not waiters.running_here(("default", "w", "s0"))
    assert waiters.running_here(("default", "w", "s4"))
    assert len(waiters._started) == 2 and len(waiters._closed) == 2


async def test_a_lost_notification_costs_the_recheck_not_the_wait(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    frontend: FrontendService,
    reads: list[str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The close committed but its notification never reached this frontend (its queue was gone
    while the connection was down): the poll reads the run after RECHECK_SECONDS and answers,
    instead of waiting out the 30 s it asked for."""
    monkeypatch.setattr(get_result, "RECHECK_SECONDS", 0.2)
    w = wid()
    run_id = await _start(client, w)
    await insert_run(engine, workflow_id=w, run_id=run_id)
    await close_run(engine, workflow_id=w, run_id=run_id, status=S.COMPLETED, result={"result": [PAYLOAD]})
    started = time.monotonic()
    async with asyncio.timeout(DEADLINE):
        r = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id})
    assert r.json()["status"] == "Completed" and r.json()["result"] == [PAYLOAD]
    assert reads == [run_id]
    assert time.monotonic() - started < DEADLINE


async def test_after_the_recheck_a_running_run_waits_on_and_a_close_without_outcome_is_read(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    frontend: FrontendService,
    frontend_bus: AmqpBus,
    reads: list[str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Still running at the recheck: one read, then the watch goes on (the same one, registered
    from the start); a notification without the outcome (too large to carry) is read back."""
    monkeypatch.setattr(get_result, "RECHECK_SECONDS", 0.05)
    w = wid()
    run_id = await _start(client, w)
    await insert_run(engine, workflow_id=w, run_id=run_id)
    poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id}))
    # The recheck's read happened (the run is still running).
    await until(lambda: bool(reads), what="the recheck's read", deadline=DEADLINE)
    await close_run(engine, workflow_id=w, run_id=run_id, status=S.COMPLETED, result={"result": [PAYLOAD]})
    async with asyncio.timeout(DEADLINE):
        await _notify(frontend_bus, _completed(w, run_id, outcome=False))
        r = await poll
    assert r.json()["status"] == "Completed" and r.json()["result"] == [PAYLOAD]
    assert reads == [run_id, run_id]


async def test_a_run_not_started_here_is_read_first(
    client: httpx.AsyncClient, engine: AsyncEngine, frontend: FrontendService, reads: list[str | None]
) -> None:
    """Another frontend's run, or one named by hand that does not exist: read first, as before."""
    missing = await client.get(f"{BASE}/{wid()}/result", params={"wait": 30, "run_id": "nope"})
    assert missing.status_code == 404
    w = wid()
    run_id = await insert_run(engine, workflow_id=w, status=S.COMPLETED, result={"result": [PAYLOAD]})
    r = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id})
    assert r.json()["result"] == [PAYLOAD]
    assert reads == ["nope", run_id]
