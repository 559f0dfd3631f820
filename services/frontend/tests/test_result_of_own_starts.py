"""The first result poll of a run this frontend started waits for the run's close notification
without reading the run (api/get_result.py, notifications.ClosedWaiters.starting): real broker,
real Postgres, the fake history's start replies. Every answer still comes from a close
notification or from a read: a close that never arrives costs a short wait, then the read."""

from __future__ import annotations

import asyncio
import uuid
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
PAYLOAD = {"metadata": {"encoding": "json/plain"}, "data": "a\u2028b" + "é" * 100}


def wid() -> str:
    return f"own-{uuid.uuid4().hex[:10]}"


def closed(w: str, run_id: str, *, outcome: bool = True) -> WorkflowClosed:
    if not outcome:  # history leaves a large outcome out of the notification
        return WorkflowClosed(namespace="default", workflow_id=w, run_id=run_id, status=S.COMPLETED)
    return WorkflowClosed(
        namespace="default",
        workflow_id=w,
        run_id=run_id,
        status=S.COMPLETED,
        has_outcome=True,
        result=(Payload.model_validate(PAYLOAD),),
    )


async def notify(bus: AmqpBus, msg: WorkflowClosed) -> None:
    await bus.publish(
        OutMessage(exchange=names.NOTIFY_EXCHANGE, routing_key="", body=msg.model_dump_json().encode())
    )


@pytest.fixture
def reads(frontend: FrontendService, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every run read of the result path (the store's `execution`), by run id."""
    store = frontend.context.store
    seen: list[str | None] = []
    real = store.execution

    async def counted(namespace: str, workflow_id: str, run: str | None) -> Any:
        if workflow_id.startswith("own-"):
            seen.append(run)
        return await real(namespace, workflow_id, run)

    monkeypatch.setattr(store, "execution", counted)
    return seen


async def start(client: httpx.AsyncClient, w: str) -> str:
    r = await client.post(BASE, json={"workflow_id": w, "workflow_type": "Greet", "task_queue": "tq"})
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]
    return run_id


async def test_a_started_run_is_answered_from_its_close_without_a_read(
    client: httpx.AsyncClient, frontend: FrontendService, frontend_bus: AmqpBus, reads: list[str | None]
) -> None:
    w = wid()
    run_id = await start(client, w)  # the fake history writes no row: a read would be a 404
    key = ("default", w, run_id)
    with watched(frontend, key) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id}))
        async with asyncio.timeout(DEADLINE):
            await waiting.wait()
    async with asyncio.timeout(DEADLINE):
        await notify(frontend_bus, closed(w, run_id))
        await notify(frontend_bus, closed(w, run_id))  # delivered twice: answered once, as before
        r = await poll
    assert r.json()["status"] == "Completed" and r.json()["result"] == [PAYLOAD]
    assert reads == []
    assert not frontend.context.waiters.watching(key)
    # Only the first poll: the next one reads (and finds no row here).
    again = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id})
    assert again.status_code == 404 and reads == [run_id]


async def test_a_close_that_comes_before_the_poll_is_kept_for_it(
    client: httpx.AsyncClient, frontend: FrontendService, frontend_bus: AmqpBus, reads: list[str | None]
) -> None:
    w = wid()
    run_id = await start(client, w)
    await notify(frontend_bus, closed(w, run_id))
    key = ("default", w, run_id)
    await until(
        lambda: frontend.context.waiters._started.get(key) is not None,
        deadline=DEADLINE,
        what="the close kept",
    )
    r = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id})
    assert r.json()["result"] == [PAYLOAD] and reads == []


async def test_a_close_without_its_outcome_or_none_at_all_falls_back_to_the_read(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    frontend: FrontendService,
    frontend_bus: AmqpBus,
    reads: list[str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large outcome is left out of the notification: the row answers. A notification that
    never comes (lost while the listener reconnected, or a retried start naming a run closed long
    ago) costs UNREAD_WAIT_SECONDS, then the read answers."""
    monkeypatch.setattr(get_result, "UNREAD_WAIT_SECONDS", 0.2)
    w = wid()
    run_id = await start(client, w)
    await insert_run(engine, workflow_id=w, run_id=run_id)
    await close_run(engine, workflow_id=w, run_id=run_id, status=S.COMPLETED, result={"result": [PAYLOAD]})
    await notify(frontend_bus, closed(w, run_id, outcome=False))
    key = ("default", w, run_id)
    await until(
        lambda: frontend.context.waiters._started.get(key) is not None,
        deadline=DEADLINE,
        what="the close kept",
    )
    r = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id})
    assert r.json()["result"] == [PAYLOAD] and reads == [run_id]

    w2 = wid()
    run2 = await start(client, w2)
    await insert_run(engine, workflow_id=w2, run_id=run2)
    await close_run(engine, workflow_id=w2, run_id=run2, status=S.COMPLETED, result={"result": [PAYLOAD]})
    async with asyncio.timeout(DEADLINE):
        r = await client.get(f"{BASE}/{w2}/result", params={"wait": 30, "run_id": run2})
    assert r.json()["result"] == [PAYLOAD] and reads == [run_id, run2]
    # wait=0 never waits: one read.
    w3 = wid()
    run3 = await start(client, w3)
    r = await client.get(f"{BASE}/{w3}/result", params={"wait": 0, "run_id": run3})
    assert r.status_code == 404 and reads == [run_id, run2, run3]


def test_a_close_during_the_start_is_kept_and_starts_nobody_polls_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waiters = ClosedWaiters()
    with waiters.starting("ns", "w") as started, waiters.starting("ns", "w") as other:
        waiters.dispatch(WorkflowClosed(namespace="ns", workflow_id="w", run_id="r1", status=S.COMPLETED))
        waiters.dispatch(WorkflowClosed(namespace="ns", workflow_id="x", run_id="r9", status=S.COMPLETED))
        started("r1")  # the reply came after the close: the close is kept
        other("r2")
    assert not waiters._starting
    known, close = waiters.take_started(("ns", "w", "r1"))
    assert known and close is not None and close.run_id == "r1"
    assert waiters.take_started(("ns", "w", "r1")) == (False, None)
    assert waiters.take_started(("ns", "x", "r9")) == (False, None)  # not started here
    assert waiters.take_started(("ns", "w", "r2")) == (True, None)
    monkeypatch.setattr("tidal_frontend.notifications.STARTED_KEPT", 3)
    for i in range(5):
        with waiters.starting("ns", f"w{i}") as started:
            started("r")
    assert [k[1] for k in waiters._started] == ["w2", "w3", "w4"]


def test_closes_kept_before_their_poll_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An outcome is up to 64 KiB: at most CLOSES_KEPT closes wait for their polls; the oldest is
    forgotten with its run (whose poll then reads as before), not turned into a wait."""
    monkeypatch.setattr("tidal_frontend.notifications.CLOSES_KEPT", 2)
    waiters = ClosedWaiters()
    for w in ("a", "b", "c", "d"):
        with waiters.starting("ns", w) as started:
            started("r")
    for w in ("a", "b", "a", "c"):  # "a" twice: a duplicate delivery keeps one
        waiters.dispatch(WorkflowClosed(namespace="ns", workflow_id=w, run_id="r", status=S.COMPLETED))
    assert waiters.take_started(("ns", "a", "r")) == (False, None)
    assert [waiters.take_started(("ns", w, "r"))[1] is not None for w in "bcd"] == [True, True, False]
    assert not waiters._started and not waiters._closes


# --- a start that waits for its result (api/start_workflow.py, `wait_for_result`) ------------


async def test_a_start_with_wait_for_result_answers_the_run_and_its_result(
    client: httpx.AsyncClient, frontend: FrontendService, frontend_bus: AmqpBus, reads: list[str | None]
) -> None:
    """One request: the start's fields as without the wait, and `result` as the poll would have
    answered it (from the close notification: no read)."""
    w = wid()
    seen: list[tuple[str, str, str]] = []
    frontend.context.waiters.on_watch = lambda k: seen.append(k) if k[1] == w else None
    try:
        body = {"workflow_id": w, "workflow_type": "Greet", "task_queue": "tq", "wait_for_result": 30}
        posted = asyncio.create_task(client.post(BASE, json=body))
        await until(lambda: bool(seen), deadline=DEADLINE, what="the start to wait", interval=0.01)
    finally:
        frontend.context.waiters.on_watch = None
    (key,) = seen
    async with asyncio.timeout(DEADLINE):
        await notify(frontend_bus, closed(w, key[2]))
        r = await posted
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["workflow_id"], answer["run_id"], answer["started"]) == (w, key[2], True)
    assert answer["result"] == {
        "workflow_id": w,
        "run_id": key[2],
        "status": "Completed",
        "result": [PAYLOAD],
        "failure": None,
        "new_run_id": None,
    }
    assert reads == [] and not frontend.context.waiters.watching(key)


async def test_a_plain_start_answers_without_a_result(client: httpx.AsyncClient) -> None:
    r = await client.post(BASE, json={"workflow_id": wid(), "workflow_type": "Greet", "task_queue": "tq"})
    assert r.status_code == 201 and r.json()["result"] is None


@pytest.mark.parametrize("wait", [0, -1, "soon", 10**12])
async def test_a_wait_for_result_out_of_range_is_a_400_and_starts_nothing(
    client: httpx.AsyncClient, fake_history: Any, wait: object
) -> None:
    w = wid()
    body = {"workflow_id": w, "workflow_type": "Greet", "task_queue": "tq", "wait_for_result": wait}
    r = await client.post(BASE, json=body)
    assert r.status_code == 400, r.text
    assert "wait_for_result" in r.text
    assert ("default", w) not in fake_history.runs


async def test_a_start_whose_wait_fails_still_answers_the_started_run(
    client: httpx.AsyncClient, frontend: FrontendService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start is acknowledged by history before the wait: if the wait cannot answer (here the
    run's read after a short wait finds no row), the start is answered without `result`, never
    as an error the caller would take for a failed start."""
    monkeypatch.setattr(get_result, "UNREAD_WAIT_SECONDS", 0.05)
    w = wid()
    body = {"workflow_id": w, "workflow_type": "Greet", "task_queue": "tq", "wait_for_result": 0.1}
    r = await client.post(BASE, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["result"] is None and r.json()["run_id"]
