"""GET /workflows?query= and /workflow-count on real Postgres rows (written with the same
visibility writer history uses), and every error class as an RFC 7807 problem body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.db import executions, namespaces
from tidal_server.visibility.writer import index_attributes

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
async def ns(engine: AsyncEngine) -> str:
    """A namespace of its own holding 6 runs: wf-0..wf-5, one minute apart."""
    namespace = f"vis-{uuid.uuid4().hex[:8]}"
    # Registered, as every route under /namespaces/{ns} refuses an unknown namespace.
    async with engine.begin() as conn:
        await conn.execute(sa.insert(namespaces).values(name=namespace))
    for i in range(6):
        attrs = {"CustomerId": f"c-{i % 2}", "Amount": i * 10, "Express": i >= 4}
        running = i >= 3
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(executions).values(
                    namespace=namespace,
                    workflow_id=f"wf-{i}",
                    run_id=str(uuid.uuid4()),
                    shard_id=0,
                    workflow_type="Order" if i % 3 else "Refund",
                    task_queue="tq",
                    status="Running" if running else "Completed",
                    start_time=T0 + timedelta(minutes=i),
                    close_time=None if running else T0 + timedelta(minutes=i, seconds=5),
                    next_event_id=4,
                    version=1,
                    state={},
                    memo={"note": {"metadata": {"encoding": "json/plain"}, "data": i}},
                    search_attributes=attrs,
                )
            )
            run_id = (
                await conn.execute(
                    sa.select(executions.c.run_id).where(
                        executions.c.namespace == namespace, executions.c.workflow_id == f"wf-{i}"
                    )
                )
            ).scalar_one()
            await index_attributes(
                conn,
                postgresql.insert,
                namespace=namespace,
                workflow_id=f"wf-{i}",
                run_id=run_id,
                changes=attrs,
                new_run=True,
            )
    return namespace


def _ids(body: dict[str, object]) -> list[str]:
    executions_ = body["executions"]
    assert isinstance(executions_, list)
    return [e["workflow_id"] for e in executions_]


async def test_list_filters_pages_and_counts(client: httpx.AsyncClient, ns: str, engine: AsyncEngine) -> None:
    base = f"/api/v1/namespaces/{ns}"
    r = await client.get(f"{base}/workflows")
    assert r.status_code == 200
    body = r.json()
    assert _ids(body) == [f"wf-{i}" for i in (5, 4, 3, 2, 1, 0)] and body["next_page_token"] is None
    first = body["executions"][0]
    assert first["status"] == "Running" and first["close_time"] is None and first["history_length"] == 3
    assert first["search_attributes"] == {"CustomerId": "c-1", "Amount": 50, "Express": True}
    assert first["memo"]["note"]["data"] == 5

    query = "WorkflowType = 'Order' AND ExecutionStatus = 'Running' AND CustomerId = 'c-0'"
    r = await client.get(f"{base}/workflows", params={"query": query})
    assert _ids(r.json()) == ["wf-4"]
    r = await client.get(f"{base}/workflows", params={"query": "Amount >= 20 AND Express = false"})
    assert _ids(r.json()) == ["wf-3", "wf-2"]

    seen: list[str] = []
    params = {"query": "ORDER BY StartTime ASC", "page_size": "4"}
    while True:
        page = (await client.get(f"{base}/workflows", params=params)).json()
        seen += _ids(page)
        if page["next_page_token"] is None:
            break
        params["next_page_token"] = page["next_page_token"]
    assert seen == [f"wf-{i}" for i in range(6)]

    r = await client.get(f"{base}/workflow-count", params={"query": "CustomerId = 'c-1'"})
    assert r.status_code == 200 and r.json() == {"count": 3}
    r = await client.get(f"{base}/workflow-count")
    assert r.json() == {"count": 6}
    r = await client.get(f"{base}/workflow-count", params={"query": "GROUP BY ExecutionStatus"})
    assert r.json() == {
        "count": 6,
        "groups": [{"group_values": ["Completed"], "count": 3}, {"group_values": ["Running"], "count": 3}],
    }
    # Another (registered) namespace sees none of them; an unknown one answers 404.
    other = f"vis-other-{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(sa.insert(namespaces).values(name=other))
    r = await client.get(f"/api/v1/namespaces/{other}/workflow-count")
    assert r.json() == {"count": 0}
    r = await client.get("/api/v1/namespaces/elsewhere/workflow-count")
    assert r.status_code == 404 and r.json()["code"] == "namespace_not_found"


@pytest.mark.parametrize(
    ("params", "fragment", "position", "token"),
    [
        ({"query": "WorkflowType = "}, "expected a value", 15, None),
        ({"query": "WorkflowType = 'x' AND AND"}, "expected a search attribute name", 23, "AND"),
        ({"query": "Nope = 1"}, "unknown search attribute 'Nope'", 0, "Nope"),
        ({"query": "Amount = 'ten'"}, "Amount is an Int attribute", 0, "Amount"),
        ({"query": "ExecutionStatus = 'Sleeping'"}, "not an ExecutionStatus", 0, "ExecutionStatus"),
        ({"query": "ORDER BY CloseTime"}, "ORDER BY supports StartTime only", 9, "CloseTime"),
    ],
)
async def test_invalid_queries_are_400_with_position(
    client: httpx.AsyncClient,
    ns: str,
    params: dict[str, str],
    fragment: str,
    position: int,
    token: str | None,
) -> None:
    for path in ("workflows", "workflow-count"):
        r = await client.get(f"/api/v1/namespaces/{ns}/{path}", params=params)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["code"] == "invalid_argument" and body["type"] == "urn:tidal:problem:invalid_argument"
        assert fragment in body["detail"] and f"position {position}" in body["detail"]
        assert body["position"] == position and body["token"] == token


async def test_bad_page_token_and_page_size(client: httpx.AsyncClient, ns: str) -> None:
    base = f"/api/v1/namespaces/{ns}/workflows"
    for token in ("not-a-token", "e30"):  # garbage; valid base64 of "{}"
        r = await client.get(base, params={"next_page_token": token})
        assert r.status_code == 400 and r.json()["code"] == "invalid_argument"
        assert "next_page_token" in r.json()["detail"]
    page = (await client.get(base, params={"page_size": "2"})).json()
    r = await client.get(
        base, params={"query": "ORDER BY StartTime ASC", "next_page_token": page["next_page_token"]}
    )
    assert r.status_code == 400 and "other ORDER BY direction" in r.json()["detail"]
    for size in ("0", "1001", "x"):
        r = await client.get(base, params={"page_size": size})
        assert r.status_code == 400 and r.json()["code"] == "invalid_argument"


async def test_start_refuses_bad_search_attributes(client: httpx.AsyncClient) -> None:
    body = {"workflow_id": "w", "workflow_type": "T", "task_queue": "q"}
    for attrs, fragment in (
        ({"WorkflowId": "x"}, "system attribute"),
        ({"9lives": 1}, "invalid"),
        ({"Tags": ["a"]}, "no search attribute type"),
        ({"Gone": None}, "has no value"),
    ):
        r = await client.post(
            "/api/v1/namespaces/default/workflows", json={**body, "search_attributes": attrs}
        )
        assert r.status_code == 400 and r.json()["code"] == "invalid_argument", r.text
        assert fragment in r.json()["detail"]
