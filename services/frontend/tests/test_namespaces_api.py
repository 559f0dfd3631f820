"""The namespaces and API-key endpoints, auth on every route, the start rate limit: on real
Postgres and RabbitMQ (the fake history answers workflow writes). Each endpoint: success and
each error class it documents."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_frontend.app import FrontendService
from tidal_frontend.ratelimit import StartRateLimiter
from tidal_frontend.settings import FrontendSettings
from tidal_server import apikeys
from tidal_server.apikeys import Role
from tidal_server.bus import AmqpBus
from tidal_server.service import Runtime

from .conftest import SHARDS, FakeHistory

BOOTSTRAP = "bootstrap-" + "k" * 40


@pytest.fixture(scope="module")
async def secured(
    frontend_bus: AmqpBus,
    engine: AsyncEngine,
    module_amqp_url: str,
    module_database_url: str,
    fake_history: FakeHistory,
) -> AsyncIterator[FrontendService]:
    settings = FrontendSettings(
        http_port=0,
        amqp_url=module_amqp_url,
        database_url=module_database_url,
        shard_count=SHARDS,
        request_timeout_seconds=2.0,
        commands_enabled=False,
        auth_enabled=True,
        auth_bootstrap_key=BOOTSTRAP,  # type: ignore[arg-type]
        start_rate_limit_per_second=1000,
    )
    runtime = Runtime(
        bus=frontend_bus, engine=engine, member_id=f"sec-{uuid.uuid4().hex[:8]}", shard_count=SHARDS
    )
    service = FrontendService(runtime, settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def http(secured: FrontendService) -> AsyncIterator[Callable[[str | None], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=secured.asgi_app), base_url="http://frontend", headers=headers
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def _code(r: httpx.Response) -> str:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return str(r.json()["code"])


async def test_namespace_crud_and_its_errors(http: Callable[[str | None], httpx.AsyncClient]) -> None:
    admin = http(BOOTSTRAP)
    name = f"ns-{uuid.uuid4().hex[:8]}"
    r = await admin.post("/api/v1/namespaces", json={"name": name, "description": "d", "retention_days": 7})
    assert r.status_code == 201 and r.json()["state"] == "registered" and r.json()["retention_days"] == 7
    r = await admin.post("/api/v1/namespaces", json={"name": name})
    assert r.status_code == 409 and _code(r) == "namespace_already_exists"
    for bad in (
        {"name": "a/b"},
        {"name": "*"},
        {"name": name, "retention_days": 0},
        {"name": "x", "extra": 1},
    ):
        r = await admin.post("/api/v1/namespaces", json=bad)
        assert r.status_code == 400 and _code(r) == "invalid_argument", bad
    r = await admin.get(f"/api/v1/namespaces/{name}")
    assert r.status_code == 200 and r.json()["description"] == "d"
    r = await admin.get("/api/v1/namespaces/no-such-ns")
    assert r.status_code == 404 and _code(r) == "namespace_not_found"
    r = await admin.patch(f"/api/v1/namespaces/{name}", json={"retention_days": 3, "description": "e"})
    assert r.status_code == 200 and (r.json()["retention_days"], r.json()["description"]) == (3, "e")
    r = await admin.patch("/api/v1/namespaces/no-such-ns", json={"retention_days": 3})
    assert r.status_code == 404 and _code(r) == "namespace_not_found"
    r = await admin.patch(f"/api/v1/namespaces/{name}", json={"state": "deprecated"})
    assert r.status_code == 400
    names = [n["name"] for n in (await admin.get("/api/v1/namespaces")).json()["namespaces"]]
    assert "default" in names and name in names
    # Deprecate: reads and signals still work, starts are refused.
    start = {"workflow_id": f"wf-{uuid.uuid4().hex[:8]}", "workflow_type": "T", "task_queue": "q"}
    r = await admin.post(f"/api/v1/namespaces/{name}/workflows", json=start)
    assert r.status_code == 201
    r = await admin.delete(f"/api/v1/namespaces/{name}")
    assert r.status_code == 200 and r.json()["state"] == "deprecated"
    r = await admin.delete("/api/v1/namespaces/no-such-ns")
    assert r.status_code == 404 and _code(r) == "namespace_not_found"
    r = await admin.post(f"/api/v1/namespaces/{name}/workflows", json={**start, "workflow_id": "other"})
    assert r.status_code == 409 and _code(r) == "namespace_deprecated"
    r = await admin.post(
        f"/api/v1/namespaces/{name}/workflows/{start['workflow_id']}/signal", json={"signal_name": "s"}
    )
    assert r.status_code == 202


async def test_unknown_namespace_is_refused_on_every_workflow_route(
    http: Callable[[str | None], httpx.AsyncClient], fake_history: FakeHistory
) -> None:
    admin = http(BOOTSTRAP)
    base = "/api/v1/namespaces/nowhere/workflows"
    before = len(fake_history.received)
    for method, path, body in (
        ("POST", base, {"workflow_id": "w", "workflow_type": "T", "task_queue": "q"}),
        ("POST", f"{base}/w/signal", {"signal_name": "s"}),
        ("POST", f"{base}/w/terminate", {}),
        ("POST", f"{base}/w/cancel", {}),
        ("POST", f"{base}/w/query", {"query_name": "q"}),
        ("POST", f"{base}/w/update", {"update_name": "u"}),
        ("GET", f"{base}/w", None),
        ("GET", f"{base}/w/history", None),
        ("GET", f"{base}/w/result", None),
    ):
        r = await admin.request(method, path, json=body)
        assert r.status_code == 404 and _code(r) == "namespace_not_found", (method, path, r.text)
    assert len(fake_history.received) == before  # nothing reached history


async def test_api_keys_lifecycle_and_role_checks(
    http: Callable[[str | None], httpx.AsyncClient], engine: AsyncEngine
) -> None:
    admin = http(BOOTSTRAP)
    ns = f"keys-{uuid.uuid4().hex[:8]}"
    assert (await admin.post("/api/v1/namespaces", json={"name": ns})).status_code == 201

    async def create(client: httpx.AsyncClient, namespace: str, role: str) -> httpx.Response:
        return await client.post("/api/v1/api-keys", json={"namespace": namespace, "role": role})

    r = await create(admin, ns, "admin")
    assert r.status_code == 201
    ns_admin_key, ns_admin_id = r.json()["key"], r.json()["key_id"]
    # Stored hashed: the table has the sha256, never the key.
    stored = await apikeys.list_keys(engine, namespace=ns)
    assert [k.key_id for k in stored] == [ns_admin_id]
    assert (await apikeys.verify_key(engine, ns_admin_key)) is not None
    assert (await apikeys.verify_key(engine, ns_admin_key + "x")) is None
    r = await create(admin, "no-such-ns", "reader")
    assert r.status_code == 404 and _code(r) == "namespace_not_found"
    r = await admin.post("/api/v1/api-keys", json={"namespace": ns, "role": "owner"})
    assert r.status_code == 400 and _code(r) == "invalid_argument"

    ns_admin = http(ns_admin_key)
    # A namespace admin manages its namespace's keys only.
    r = await create(ns_admin, ns, "writer")
    assert r.status_code == 201
    writer_key, writer_id = r.json()["key"], r.json()["key_id"]
    r = await create(ns_admin, "default", "reader")
    assert r.status_code == 403 and _code(r) == "forbidden"
    r = await create(ns_admin, "*", "reader")
    assert r.status_code == 403
    # A reader key cannot learn the workers' broker URL (issue 9, #10); writers can (below).
    r = await create(admin, "default", "reader")
    reader = http(r.json()["key"])
    r = await reader.get("/api/v1/cluster")
    assert r.status_code == 403 and _code(r) == "forbidden"
    assert "may not run workers" in r.json()["detail"]
    listed = (await ns_admin.get("/api/v1/api-keys")).json()["api_keys"]
    assert {k["key_id"] for k in listed} == {ns_admin_id, writer_id}
    r = await ns_admin.get(f"/api/v1/api-keys/{writer_id}")
    assert r.status_code == 200 and r.json()["role"] == "writer" and "key" not in r.json()
    r = await ns_admin.get("/api/v1/api-keys/000000000000")
    assert r.status_code == 404 and _code(r) == "not_found"
    # A namespace admin cannot create namespaces; it can update its own.
    assert (await ns_admin.post("/api/v1/namespaces", json={"name": f"{ns}-2"})).status_code == 403
    assert (await ns_admin.patch(f"/api/v1/namespaces/{ns}", json={"description": "x"})).status_code == 200
    assert (await ns_admin.patch("/api/v1/namespaces/default", json={"description": "x"})).status_code == 403

    writer = http(writer_key)
    assert (await writer.get("/api/v1/api-keys")).status_code == 403
    assert (await writer.get(f"/api/v1/api-keys/{writer_id}")).status_code == 403
    assert (await writer.delete(f"/api/v1/api-keys/{writer_id}")).status_code == 403
    assert (await writer.patch(f"/api/v1/namespaces/{ns}", json={"description": "x"})).status_code == 403
    assert (await writer.delete(f"/api/v1/namespaces/{ns}")).status_code == 403
    assert (await writer.get(f"/api/v1/namespaces/{ns}")).status_code == 200
    assert (await writer.get("/api/v1/namespaces/default")).status_code == 403
    assert (await writer.get("/api/v1/cluster")).status_code == 200
    start = {"workflow_id": f"k-{uuid.uuid4().hex[:8]}", "workflow_type": "T", "task_queue": "q"}
    assert (await writer.post(f"/api/v1/namespaces/{ns}/workflows", json=start)).status_code == 201
    assert (await writer.post("/api/v1/namespaces/default/workflows", json=start)).status_code == 403

    # Revoke: 204, then the key is refused (401) and the id is gone (404).
    r = await ns_admin.delete(f"/api/v1/api-keys/{writer_id}")
    assert r.status_code == 204
    assert (await writer.get(f"/api/v1/namespaces/{ns}")).status_code == 401
    r = await ns_admin.delete(f"/api/v1/api-keys/{writer_id}")
    assert r.status_code == 404 and _code(r) == "not_found"


async def test_api_keys_listed_by_namespace_and_role(http: Callable[[str | None], httpx.AsyncClient]) -> None:
    """The admin pages list keys per namespace and role; a namespace admin asking for another
    namespace sees nothing of it (not an error that would confirm the namespace exists)."""
    admin = http(BOOTSTRAP)
    ns, other = f"kf-{uuid.uuid4().hex[:8]}", f"kf-{uuid.uuid4().hex[:8]}"
    for name in (ns, other):
        assert (await admin.post("/api/v1/namespaces", json={"name": name})).status_code == 201
    ids: dict[tuple[str, str], str] = {}
    for name, role in ((ns, "reader"), (ns, "writer"), (ns, "admin"), (other, "reader")):
        r = await admin.post("/api/v1/api-keys", json={"namespace": name, "role": role})
        ids[(name, role)] = r.json()["key_id"]

    async def listed(client: httpx.AsyncClient, **params: str) -> set[str]:
        r = await client.get("/api/v1/api-keys", params=params)
        assert r.status_code == 200, r.text
        return {k["key_id"] for k in r.json()["api_keys"]}

    assert await listed(admin, namespace=ns) == {ids[(ns, r)] for r in ("reader", "writer", "admin")}
    assert await listed(admin, namespace=ns, role="reader") == {ids[(ns, "reader")]}
    readers = await listed(admin, role="reader")
    assert {ids[(ns, "reader")], ids[(other, "reader")]} <= readers and ids[(ns, "writer")] not in readers
    r = await admin.post("/api/v1/api-keys", json={"namespace": ns, "role": "admin"})
    ns_admin = http(r.json()["key"])
    assert await listed(ns_admin, namespace=other) == set()
    assert ids[(ns, "writer")] in await listed(ns_admin, role="writer")
    for bad in ({"role": "owner"}, {"namespace": "a\x00b"}, {"namespace": ""}):
        r = await admin.get("/api/v1/api-keys", params=bad)
        assert r.status_code == 400 and _code(r) == "invalid_argument", bad


async def test_unauthenticated_requests(http: Callable[[str | None], httpx.AsyncClient]) -> None:
    for key in (None, "garbage", "tidal_000000000000_" + "a" * 43):
        client = http(key)
        for method, path in (
            ("GET", "/api/v1/namespaces"),
            ("POST", "/api/v1/api-keys"),
            ("GET", "/api/v1/cluster"),
        ):
            r = await client.request(method, path, json={})
            assert r.status_code == 401 and _code(r) == "unauthenticated", (key, path)
            assert r.headers["www-authenticate"].startswith("Bearer")
    # Health and the API document stay open.
    anonymous = http(None)
    assert (await anonymous.get("/healthz")).status_code == 200
    assert (await anonymous.get("/api/v1/openapi.json")).status_code == 200


async def test_start_rate_limit(
    secured: FrontendService, http: Callable[[str | None], httpx.AsyncClient]
) -> None:
    now = [0.0]
    limiter = StartRateLimiter(rate_per_second=2, burst=2, monotonic=lambda: now[0])
    saved = secured.context.start_limiter
    secured.context.start_limiter = limiter
    try:
        admin = http(BOOTSTRAP)

        async def start() -> httpx.Response:
            body = {"workflow_id": f"rl-{uuid.uuid4().hex[:8]}", "workflow_type": "T", "task_queue": "q"}
            return await admin.post("/api/v1/namespaces/default/workflows", json=body)

        assert [(await start()).status_code for _ in range(2)] == [201, 201]
        r = await start()
        assert r.status_code == 429 and _code(r) == "rate_limited" and r.headers["retry-after"] == "1"
        assert r.json()["retry_after_seconds"] == pytest.approx(0.5)
        now[0] += 0.5  # one token back
        assert (await start()).status_code == 201
        assert (await start()).status_code == 429
    finally:
        secured.context.start_limiter = saved


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.WRITER) and Role.WRITER.allows(Role.READER)
    assert not Role.READER.allows(Role.WRITER) and not Role.WRITER.allows(Role.ADMIN)


async def test_every_namespace_route_checks_the_key(
    http: Callable[[str | None], httpx.AsyncClient], fake_history: FakeHistory
) -> None:
    """Issue 9 (#10): list, count, task-queue describe and async activity completion answered
    anybody, in any namespace, with auth on. Now: no key -> 401; a key of another namespace ->
    403; and nothing reaches history."""
    admin = http(BOOTSTRAP)
    ns = f"fence-{uuid.uuid4().hex[:8]}"
    assert (await admin.post("/api/v1/namespaces", json={"name": ns})).status_code == 201
    r = await admin.post("/api/v1/api-keys", json={"namespace": ns, "role": "writer"})
    outsider = http(r.json()["key"])
    token = "x" * 40  # never decoded: the key check comes first
    routes = [
        ("GET", "/api/v1/namespaces/default/workflows", None),
        ("GET", "/api/v1/namespaces/default/workflow-count", None),
        ("GET", "/api/v1/namespaces/default/task-queues/q", None),
        *[
            ("POST", f"/api/v1/namespaces/default/activities/{op}", {"task_token": token})
            for op in ("complete", "fail", "cancel", "heartbeat")
        ],
    ]
    before = len(fake_history.received)
    for key, status, code in ((None, 401, "unauthenticated"), (outsider, 403, "forbidden")):
        client = http(key) if key is None else key
        for method, path, body in routes:
            r = await client.request(method, path, json=body)
            assert r.status_code == status and _code(r) == code, (method, path, r.status_code, r.text)
    assert len(fake_history.received) == before
    # The key's own namespace still answers.
    assert (await outsider.get(f"/api/v1/namespaces/{ns}/workflows")).status_code == 200


async def test_schedule_routes_check_the_key_the_role_and_the_namespace(
    http: Callable[[str | None], httpx.AsyncClient], fake_history: FakeHistory
) -> None:
    """Schedules (issue 12): no key -> 401; a key of another namespace -> 403 on every route; a
    reader may describe and list but not change; nothing refused reaches history."""
    admin = http(BOOTSTRAP)
    ns = f"sched-{uuid.uuid4().hex[:8]}"
    assert (await admin.post("/api/v1/namespaces", json={"name": ns})).status_code == 201
    outsider = http(
        (await admin.post("/api/v1/api-keys", json={"namespace": ns, "role": "writer"})).json()["key"]
    )
    reader = http(
        (await admin.post("/api/v1/api-keys", json={"namespace": "default", "role": "reader"})).json()["key"]
    )
    base = "/api/v1/namespaces/default/schedules"
    body = {
        "schedule_id": "s",
        "spec": {"intervals": [{"every": 60}]},
        "action": {"workflow_type": "T", "workflow_id": "w", "task_queue": "q"},
    }
    writes = [
        ("POST", base, body),
        ("POST", f"{base}/s/update", {k: v for k, v in body.items() if k != "schedule_id"}),
        ("POST", f"{base}/s/pause", {}),
        ("POST", f"{base}/s/unpause", {}),
        ("POST", f"{base}/s/trigger", {}),
        (
            "POST",
            f"{base}/s/backfill",
            {"backfills": [{"start_at": "2026-01-01T00:00:00Z", "end_at": "2026-01-02T00:00:00Z"}]},
        ),
        ("DELETE", f"{base}/s", None),
    ]
    reads = [("GET", base, None), ("GET", f"{base}/s", None)]
    before = len(fake_history.received)
    for key, status, code in ((None, 401, "unauthenticated"), (outsider, 403, "forbidden")):
        client = http(key) if key is None else key
        for method, path, payload in writes + reads:
            r = await client.request(method, path, json=payload)
            assert r.status_code == status and _code(r) == code, (method, path, r.status_code, r.text)
    for method, path, payload in writes:
        r = await reader.request(method, path, json=payload)
        assert r.status_code == 403 and _code(r) == "forbidden", (method, path, r.text)
    assert len(fake_history.received) == before
    assert (await reader.get(base)).status_code == 200
    r = await reader.get(f"{base}/no-such-schedule")
    assert r.status_code == 404 and _code(r) == "not_found"
    # The outsider's own namespace answers, and holds none of default's schedules.
    r = await outsider.get(f"/api/v1/namespaces/{ns}/schedules")
    assert r.status_code == 200 and r.json()["schedules"] == []


async def test_whoami_and_the_web_ui_files(http: Callable[[str | None], httpx.AsyncClient]) -> None:
    anonymous = http(None)
    r = await anonymous.get("/api/v1/whoami")
    assert r.status_code == 401 and _code(r) == "unauthenticated"
    assert (await http(BOOTSTRAP).get("/api/v1/whoami")).json() == {
        "auth_enabled": True,
        "key_id": None,
        "namespace": "*",
        "role": "admin",
    }
    r = await http(BOOTSTRAP).post("/api/v1/api-keys", json={"namespace": "default", "role": "reader"})
    created = r.json()
    me = (await http(created["key"]).get("/api/v1/whoami")).json()
    assert me == {"auth_enabled": True, "key_id": created["key_id"], "namespace": "default", "role": "reader"}
    # The UI's files load without a key (the page asks for one); / leads to it.
    r = await anonymous.get("/")
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    r = await anonymous.get("/ui/")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # Files live under a prefix naming the digest of them all: cached for good, changed by any edit.
    match = re.search(r'<script type="module" src="(v/[0-9a-f]{16}/)app.js">', r.text)
    assert match, r.text
    versioned = "/ui/" + match.group(1)
    r = await anonymous.get(versioned + "app.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "immutable" in r.headers["cache-control"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    stale = await anonymous.get("/ui/v/0123456789abcdef/app.js")  # a page from before an upgrade
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert stale.content == r.content
    for bad in ("../app.py", "..%2f..%2fapp.py", "nope.js", ""):
        assert (await anonymous.get(versioned + bad)).status_code == 404, bad
    assert (await anonymous.get("/ui/v/")).status_code == 404
