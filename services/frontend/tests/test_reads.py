"""Describe, history, result (long poll) and the cluster/health endpoints, from real Postgres rows
and real WorkflowClosed notifications on the broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.app import FrontendService
from tidal_frontend.metrics import REQUESTS
from tidal_schema import HistoryEvent, Payload, WorkflowExecutionStatus, events, names
from tidal_schema.messages import WorkflowClosed
from tidal_server.bus import AmqpBus, OutMessage

from .conftest import DEADLINE, SHARDS, close_run, insert_run, now, watched

BASE = "/api/v1/namespaces/default/workflows"
S = WorkflowExecutionStatus


def wid() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def history(n: int) -> list[HistoryEvent]:
    t = now()
    out = [
        HistoryEvent(
            event_id=1,
            event_time=t,
            attributes=events.WorkflowExecutionStarted(workflow_type="Greet", task_queue="tq"),
        )
    ]
    out += [
        HistoryEvent(
            event_id=i, event_time=t, attributes=events.WorkflowExecutionSignaled(signal_name=f"s{i}")
        )
        for i in range(2, n + 1)
    ]
    return out


async def test_unknown_workflow_is_404_everywhere(client: httpx.AsyncClient) -> None:
    w = wid()
    for path in (f"{BASE}/{w}", f"{BASE}/{w}/result", f"{BASE}/{w}/history", f"{BASE}/{w}?run_id=nope"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == "not_found"
    assert (await client.get("/api/v1/nothing-here")).json()["code"] == "not_found"


async def test_describe_running_run_with_pending_work(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    w = wid()
    t = now().isoformat()
    state = {
        "activities": {
            "5": {
                "scheduled_event_id": 5,
                "activity_id": "1",
                "activity_type": "charge",
                "task_queue": "tq",
                "scheduled_time": t,
                "attempt": 3,
                "current_attempt_scheduled_time": t,
                "retry_policy": {},
                "last_failure": {"message": "card declined"},
            }
        },
        "timers": {"t1": {"timer_id": "t1", "started_event_id": 6, "fire_at": t}},
        "workflow_task": {"scheduled_event_id": 7, "attempt": 1, "scheduled_time": t},
        "something_new": {"from": "a newer history"},
    }
    run_id = await insert_run(
        engine,
        workflow_id=w,
        state=state,
        events=history(7),
        memo={"k": {"metadata": {"encoding": "json/plain"}, "data": 1}},
    )
    r = await client.get(f"{BASE}/{w}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["workflow_id"], d["run_id"], d["status"], d["workflow_type"], d["task_queue"]) == (
        w,
        run_id,
        "Running",
        "Greet",
        "tq",
    )
    assert d["history_length"] == 7 and d["close_time"] is None
    assert d["memo"]["k"]["data"] == 1
    [act] = d["pending_activities"]
    assert (act["activity_type"], act["attempt"]) == ("charge", 3)
    assert act["last_failure_message"] == "card declined"
    assert d["pending_timers"][0]["timer_id"] == "t1"
    assert d["pending_workflow_task"]["scheduled_event_id"] == 7


async def test_describe_pending_activity_states_heartbeats_retries_and_children(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Each pending activity's state, last failure (with its stack), next retry time, heartbeat
    details and worker; pending children with their ids. The documents are shaped as history
    writes them (services/history/tidal_history/state.py)."""
    w = wid()
    t0 = now()
    iso = lambda d: (t0 + timedelta(seconds=d)).isoformat()  # noqa: E731
    base = {"task_queue": "tq", "scheduled_time": iso(0), "current_attempt_scheduled_time": iso(0)}
    failure = {"message": "card declined", "type": "Declined", "stack_trace": "File 'pay.py', line 7"}
    state = {
        "activities": {
            # Attempt 2 failed and waits 300 s for attempt 3 (not yet handed to matching).
            "5": {**base, "scheduled_event_id": 5, "activity_id": "pay", "activity_type": "charge",
                  "attempt": 3, "dispatched_attempt": 2, "current_attempt_scheduled_time": iso(310),
                  "retry_policy": {"maximum_attempts": 5}, "last_failure": failure,
                  "last_attempt_complete_time": iso(10), "last_worker_identity": "w-1@host",
                  "schedule_to_close_timeout": "PT1H"},
            # Heartbeating: the worker reported the attempt.
            "6": {**base, "scheduled_event_id": 6, "activity_id": "copy", "activity_type": "copy",
                  "attempt": 1, "dispatched_attempt": 1, "started_attempt": 1, "retry_policy": {},
                  "last_started_time": iso(1), "last_heartbeat_time": iso(4),
                  "heartbeat_details": [{"metadata": {"encoding": "json/plain"}, "data": {"done": 40}},
                                        {"metadata": {"encoding": "binary/encrypted"}, "data": "AAEC"}],
                  "last_worker_identity": "w-2@host"},
            # Handed to a worker that has not reported yet.
            "7": {**base, "scheduled_event_id": 7, "activity_id": "a7", "activity_type": "x",
                  "attempt": 1, "dispatched_attempt": 1, "retry_policy": {}},
            "8": {**base, "scheduled_event_id": 8, "activity_id": "a8", "activity_type": "x",
                  "attempt": 1, "dispatched_attempt": 1, "retry_policy": {}, "cancel_requested": True},
        },
        "children": {
            "9": {"initiated_event_id": 9, "namespace": "default", "workflow_id": "kid-1",
                  "workflow_type": "Ship", "run_id": "r-kid", "started_event_id": 10},
            "11": {"initiated_event_id": 11, "namespace": "default", "workflow_id": "kid-2",
                   "workflow_type": "Ship", "parent_close_policy": "Abandon"},
        },
    }  # fmt: skip
    await insert_run(engine, workflow_id=w, state=state, events=history(11))
    d = (await client.get(f"{BASE}/{w}")).json()
    acts = {a["activity_id"]: a for a in d["pending_activities"]}
    assert [a["state"] for a in d["pending_activities"]] == [
        "BackingOff",
        "Started",
        "Scheduled",
        "CancelRequested",
    ]
    pay = acts["pay"]
    assert (pay["attempt"], pay["maximum_attempts"]) == (3, 5)
    assert pay["last_failure"]["message"] == "card declined" and pay["last_failure"]["type"] == "Declined"
    assert pay["last_failure"]["stack_trace"] == "File 'pay.py', line 7"
    assert _at(pay["next_attempt_schedule_time"]) == t0 + timedelta(seconds=310)
    assert _at(pay["last_attempt_complete_time"]) == t0 + timedelta(seconds=10)
    assert _at(pay["expiration_time"]) == t0 + timedelta(hours=1)
    assert pay["last_worker_identity"] == "w-1@host"
    copy = acts["copy"]
    assert copy["next_attempt_schedule_time"] is None and copy["last_failure"] is None
    assert _at(copy["last_heartbeat_time"]) == t0 + timedelta(seconds=4)
    assert _at(copy["last_started_time"]) == t0 + timedelta(seconds=1)
    assert copy["heartbeat_details"][0]["data"] == {"done": 40}
    assert copy["heartbeat_details"][1]["metadata"]["encoding"] == "binary/encrypted"
    assert acts["a7"]["heartbeat_details"] == [] and acts["a7"]["last_heartbeat_time"] is None
    kids = d["pending_children"]
    assert [(c["workflow_id"], c["run_id"], c["workflow_type_name"], c["initiated_id"]) for c in kids] == [
        ("kid-1", "r-kid", "Ship", 9),
        ("kid-2", None, "Ship", 11),
    ]
    assert kids[1]["parent_close_policy"] == "Abandon"

    # A document this frontend cannot read (a newer history's shape) still describes the run.
    odd = wid()
    await insert_run(engine, workflow_id=odd, state={"activities": {"5": {"attempt": "many"}}, "children": 3})
    d = (await client.get(f"{BASE}/{odd}")).json()
    assert d["pending_activities"] == [] and d["pending_children"] == [] and d["status"] == "Running"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_describe_picks_current_run_or_the_given_one(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    w = wid()
    old = await insert_run(engine, workflow_id=w, status=S.COMPLETED, result={"result": []})
    new = await insert_run(engine, workflow_id=w)
    assert (await client.get(f"{BASE}/{w}")).json()["run_id"] == new
    d = (await client.get(f"{BASE}/{w}", params={"run_id": old})).json()
    assert d["run_id"] == old and d["status"] == "Completed" and d["pending_activities"] == []


async def test_describe_parent_and_root_survive_gaps_cycles_and_garbage(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Root is the top of the parent chain; a parent deleted by retention ends the walk at the
    topmost stored run, a cyclic (corrupt) chain ends after a bounded walk, and a malformed
    parent entry reads as no parent."""
    top, mid, leaf = wid(), wid(), wid()

    def parent(w: str, r: str) -> dict[str, object]:
        return {"parent": {"namespace": "default", "workflow_id": w, "run_id": r, "initiated_event_id": 5}}

    top_run = await insert_run(engine, workflow_id=top)
    mid_run = await insert_run(engine, workflow_id=mid, state=parent(top, top_run))
    await insert_run(engine, workflow_id=leaf, state=parent(mid, mid_run))
    d = (await client.get(f"{BASE}/{leaf}")).json()
    assert (d["parent_workflow_id"], d["parent_run_id"]) == (mid, mid_run)
    assert (d["root_workflow_id"], d["root_run_id"]) == (top, top_run)
    d = (await client.get(f"{BASE}/{top}")).json()
    assert (d["parent_workflow_id"], d["root_workflow_id"], d["root_run_id"]) == (None, top, top_run)

    orphan = wid()
    await insert_run(engine, workflow_id=orphan, state=parent("gone-by-retention", "r0"))
    d = (await client.get(f"{BASE}/{orphan}")).json()
    assert (d["parent_workflow_id"], d["root_workflow_id"]) == ("gone-by-retention", "gone-by-retention")

    a, b = wid(), wid()
    a_run, b_run = str(uuid.uuid4()), str(uuid.uuid4())
    await insert_run(engine, workflow_id=a, run_id=a_run, state=parent(b, b_run))
    await insert_run(engine, workflow_id=b, run_id=b_run, state=parent(a, a_run))
    r = await client.get(f"{BASE}/{a}")
    assert r.status_code == 200 and r.json()["root_workflow_id"] in (a, b)

    for garbage in ({"workflow_id": "half a parent"}, "not an object", [1, 2]):
        bad = wid()
        await insert_run(engine, workflow_id=bad, state={"parent": garbage})
        d = (await client.get(f"{BASE}/{bad}")).json()
        assert (d["parent_workflow_id"], d["root_workflow_id"]) == (None, bad), garbage


async def test_history_pages_in_event_order(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    w = wid()
    run_id = await insert_run(engine, workflow_id=w, events=history(5))
    seen: list[int] = []
    token = None
    pages = 0
    while True:
        params = {"page_size": 2, **({"next_page_token": token} if token else {})}
        r = await client.get(f"{BASE}/{w}/history", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["run_id"] == run_id
        seen += [e["event_id"] for e in page["events"]]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [1, 2, 3, 4, 5] and pages == 3
    first = HistoryEvent.model_validate((await client.get(f"{BASE}/{w}/history")).json()["events"][0])
    assert first.event_type == "WorkflowExecutionStarted"
    bad = await client.get(f"{BASE}/{w}/history", params={"next_page_token": "abc"})
    assert bad.status_code == 400
    too_big = await client.get(f"{BASE}/{w}/history", params={"page_size": 0})
    assert too_big.status_code == 400 and too_big.json()["errors"][0]["loc"] == ["query", "page_size"]


async def test_result_of_closed_runs(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    w = wid()
    payload = {"metadata": {"encoding": "json/plain"}, "data": "hello"}
    await insert_run(engine, workflow_id=w, status=S.COMPLETED, result={"result": [payload]})
    r = await client.get(f"{BASE}/{w}/result")
    assert r.json()["status"] == "Completed" and r.json()["result"] == [payload]

    f = wid()
    await insert_run(
        engine, workflow_id=f, status=S.FAILED, result={"failure": {"message": "boom", "type": "ValueError"}}
    )
    body = (await client.get(f"{BASE}/{f}/result", params={"wait": 5})).json()
    assert body["status"] == "Failed" and body["failure"]["message"] == "boom" and body["result"] is None

    c = wid()
    nxt = str(uuid.uuid4())
    can = HistoryEvent(
        event_id=2,
        event_time=now(),
        attributes=events.WorkflowExecutionContinuedAsNew(
            new_execution_run_id=nxt,
            workflow_type="Greet",
            task_queue="tq",
            workflow_task_completed_event_id=1,
        ),
    )
    await insert_run(engine, workflow_id=c, status=S.CONTINUED_AS_NEW, events=[*history(1), can])
    assert (await client.get(f"{BASE}/{c}/result")).json()["new_run_id"] == nxt


async def test_result_long_poll_times_out_as_running(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    w = wid()
    await insert_run(engine, workflow_id=w)
    started = time.monotonic()
    r = await client.get(f"{BASE}/{w}/result", params={"wait": 0.3})
    assert r.status_code == 200 and r.json()["status"] == "Running"
    assert time.monotonic() - started >= 0.3
    assert (await client.get(f"{BASE}/{w}/result")).json()["status"] == "Running"  # wait=0: at once


async def test_result_long_poll_woken_by_workflow_closed(
    client: httpx.AsyncClient, engine: AsyncEngine, frontend: FrontendService, frontend_bus: AmqpBus
) -> None:
    w = wid()
    run_id = await insert_run(engine, workflow_id=w)
    key = ("default", w, run_id)
    started = time.monotonic()
    payload = {"metadata": {"encoding": "json/plain"}, "data": 42}
    with watched(frontend, key) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30}))
        async with asyncio.timeout(DEADLINE):
            # The poll is waiting before history "closes" the run.
            await waiting.wait()
    async with asyncio.timeout(DEADLINE):
        await close_run(
            engine, workflow_id=w, run_id=run_id, status=S.COMPLETED, result={"result": [payload]}
        )
        closed = WorkflowClosed(namespace="default", workflow_id=w, run_id=run_id, status=S.COMPLETED)
        await frontend_bus.publish(
            OutMessage(exchange=names.NOTIFY_EXCHANGE, routing_key="", body=closed.model_dump_json().encode())
        )
        r = await poll
    assert r.json() == {
        "workflow_id": w,
        "run_id": run_id,
        "status": "Completed",
        "result": [payload],
        "failure": None,
        "new_run_id": None,
    }
    assert time.monotonic() - started < DEADLINE  # not the 30 s wait
    assert not frontend.context.waiters.watching(key)


async def test_a_notification_with_the_outcome_answers_without_reading_it_back(
    client: httpx.AsyncClient, engine: AsyncEngine, frontend: FrontendService, frontend_bus: AmqpBus
) -> None:
    """History's close notification carries the result (docs/performance.md, "Hops and
    messages"): the poll answers from it. The row still says Running here, so an answer of
    Completed with the result can only have come from the notification."""
    w = wid()
    run_id = await insert_run(engine, workflow_id=w)
    key = ("default", w, run_id)
    payload = {"metadata": {"encoding": "json/plain"}, "data": "from the notification"}
    with watched(frontend, key) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30}))
        async with asyncio.timeout(DEADLINE):
            await waiting.wait()
    closed = WorkflowClosed(
        namespace="default",
        workflow_id=w,
        run_id=run_id,
        status=S.CONTINUED_AS_NEW,
        has_outcome=True,
        new_run_id="next-run",
    )
    async with asyncio.timeout(DEADLINE):
        await frontend_bus.publish(
            OutMessage(exchange=names.NOTIFY_EXCHANGE, routing_key="", body=closed.model_dump_json().encode())
        )
        r = await poll
    assert r.json()["status"] == "ContinuedAsNew" and r.json()["new_run_id"] == "next-run"
    completed = closed.model_copy(
        update={"status": S.COMPLETED, "new_run_id": None, "result": (Payload.model_validate(payload),)}
    )
    w2 = wid()
    run2 = await insert_run(engine, workflow_id=w2)
    completed = completed.model_copy(update={"workflow_id": w2, "run_id": run2})
    with watched(frontend, ("default", w2, run2)) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w2}/result", params={"wait": 30}))
        async with asyncio.timeout(DEADLINE):
            await waiting.wait()
    async with asyncio.timeout(DEADLINE):
        await frontend_bus.publish(
            OutMessage(
                exchange=names.NOTIFY_EXCHANGE, routing_key="", body=completed.model_dump_json().encode()
            )
        )
        r = await poll
    assert r.json()["status"] == "Completed" and r.json()["result"] == [payload]


async def test_a_poll_naming_its_run_reads_the_database_once(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    frontend: FrontendService,
    frontend_bus: AmqpBus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK polls the run it started by run id: the watch is registered before the first read,
    so that read also closes the read-then-watch race, and a notification carrying the outcome
    answers. One read per poll (two before: find the run, then re-read once watching)."""
    w = wid()
    run_id = await insert_run(engine, workflow_id=w)
    key = ("default", w, run_id)
    store = frontend.context.store
    reads: list[str | None] = []
    real = store.execution

    async def counted(namespace: str, workflow_id: str, run: str | None) -> Any:
        if workflow_id == w:
            reads.append(run)
        return await real(namespace, workflow_id, run)

    monkeypatch.setattr(store, "execution", counted)
    with watched(frontend, key) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": run_id}))
        async with asyncio.timeout(DEADLINE):
            await waiting.wait()
    payload = {"metadata": {"encoding": "json/plain"}, "data": "once"}
    closed = WorkflowClosed(
        namespace="default",
        workflow_id=w,
        run_id=run_id,
        status=S.COMPLETED,
        has_outcome=True,
        result=(Payload.model_validate(payload),),
    )
    async with asyncio.timeout(DEADLINE):
        await frontend_bus.publish(
            OutMessage(exchange=names.NOTIFY_EXCHANGE, routing_key="", body=closed.model_dump_json().encode())
        )
        r = await poll
    assert r.json()["status"] == "Completed" and r.json()["result"] == [payload]
    assert reads == [run_id]
    assert not frontend.context.waiters.watching(key)
    # A run that does not exist is still a 404, and leaves no watch behind.
    missing = await client.get(f"{BASE}/{w}/result", params={"wait": 30, "run_id": "no-such-run"})
    assert missing.status_code == 404
    assert not frontend.context.waiters.watching(("default", w, "no-such-run"))


async def test_notification_wakes_the_poll_even_before_the_commit_shows(
    client: httpx.AsyncClient, engine: AsyncEngine, frontend: FrontendService, frontend_bus: AmqpBus
) -> None:
    """A notification whose commit our read does not see yet: the poll wakes, re-reads after a short
    grace, and answers Running (the client polls again) instead of waiting out `wait`."""
    w = wid()
    run_id = await insert_run(engine, workflow_id=w)
    key = ("default", w, run_id)
    started = time.monotonic()
    with watched(frontend, key) as waiting:
        poll = asyncio.create_task(client.get(f"{BASE}/{w}/result", params={"wait": 30}))
        async with asyncio.timeout(DEADLINE):
            await waiting.wait()
    closed = WorkflowClosed(namespace="default", workflow_id=w, run_id=run_id, status=S.COMPLETED)
    async with asyncio.timeout(DEADLINE):
        await frontend_bus.publish(
            OutMessage(exchange=names.NOTIFY_EXCHANGE, routing_key="", body=closed.model_dump_json().encode())
        )
        r = await poll
    assert r.json()["status"] == "Running"
    assert time.monotonic() - started < DEADLINE


async def test_cluster_health_and_openapi(client: httpx.AsyncClient, frontend: FrontendService) -> None:
    info = (await client.get("/api/v1/cluster")).json()
    assert info == {
        "shard_count": SHARDS,
        "worker_amqp_url": frontend.settings.amqp_url,
        "embedded": False,
        "max_message_bytes": frontend.settings.max_message_bytes,
    }
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "bus": "ok", "loops": "ok"}
    # A supervised loop of the process that is down (crashed, not yet restarted) makes it unready.
    frontend.context.health.mark_down("frontend.example", "RuntimeError: boom")
    try:
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["loops"] == "frontend.example: RuntimeError: boom"
    finally:
        frontend.context.health.mark_up("frontend.example")
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/namespaces/{namespace}/workflows" in spec["paths"]
    assert "/api/v1/namespaces/{namespace}/workflows/{workflow_id}/result" in spec["paths"]


async def test_probes_are_not_counted_as_api_requests(client: httpx.AsyncClient) -> None:
    def probes() -> float:
        return sum(
            sample.value
            for metric in REQUESTS.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels.get("route") in ("/healthz", "/readyz")
        )

    before = probes()
    assert (await client.get("/healthz")).status_code == 200
    await client.get("/readyz")
    assert probes() == before
