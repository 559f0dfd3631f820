"""Namespaces and API keys end to end, shared by the embedded and the real-stack tests.

`connect(namespace, api_key)` gives an SDK client of the server under test (with a way for its
workers to reach the task queues); `http` is a raw HTTP client of the same server (no key).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from tidal.client import Client
from tidal.exceptions import RPCError
from tidal.worker import Worker

from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, GreetingWorkflow

Connect = Callable[[str, str | None], Awaitable[Client]]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _admin_call(http: httpx.AsyncClient, admin: str, method: str, path: str, **kw: Any) -> Any:
    r = await http.request(method, path, headers=_bearer(admin), **kw)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


async def _rpc_status(call: Awaitable[Any]) -> str:
    with pytest.raises(RPCError) as info:
        await call
    return info.value.status


async def key_for_namespace_a_cannot_touch_b(connect: Connect, http: httpx.AsyncClient, admin: str) -> None:
    """The done-when of issue 4: a key for A cannot read, start or signal anything in B, while
    it works in A; a reader cannot write; keys are admin-managed and revocable."""
    suffix = uuid.uuid4().hex[:8]
    ns_a, ns_b = f"team-a-{suffix}", f"team-b-{suffix}"
    for ns in (ns_a, ns_b):
        await _admin_call(http, admin, "POST", "/api/v1/namespaces", json={"name": ns, "retention_days": 3})

    async def new_key(ns: str, role: str) -> str:
        body = {"namespace": ns, "role": role, "description": f"{role} of {ns}"}
        created = await _admin_call(http, admin, "POST", "/api/v1/api-keys", json=body)
        assert created["key"].startswith(f"tidal_{created['key_id']}_")
        return str(created["key"])

    writer_a, writer_b, reader_a = (
        await new_key(ns_a, "writer"),
        await new_key(ns_b, "writer"),
        await new_key(ns_a, "reader"),
    )
    task_queue = f"auth-{suffix}"
    wf_id = f"auth-wf-{suffix}"

    # Each namespace's own writer runs a workflow in it; the same workflow id in both.
    for ns, key in ((ns_a, writer_a), (ns_b, writer_b)):
        client = await connect(ns, key)
        try:
            async with Worker(
                client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
            ):
                result = await client.execute_workflow(
                    GreetingWorkflow.run, ns, id=wf_id, task_queue=task_queue
                )
            assert result == f"Hello, {ns}!"
        finally:
            await client.close()
    # A long-running one in B, for signals.
    client_b = await connect(ns_b, writer_b)
    sig_id = f"auth-sig-{suffix}"
    try:
        await client_b.start_workflow("CancellableWorkflow", "b", id=sig_id, task_queue=task_queue)
    finally:
        await client_b.close()

    # The A writer, aimed at B: every read and write is forbidden (403), nothing leaks.
    a_in_b = await connect(ns_b, writer_a)
    try:
        handle = a_in_b.get_workflow_handle(wf_id)
        assert await _rpc_status(handle.describe()) == "forbidden"
        assert await _rpc_status(handle.fetch_history()) == "forbidden"
        assert await _rpc_status(handle.result()) == "forbidden"
        assert await _rpc_status(a_in_b.get_workflow_handle(sig_id).signal("add", "x")) == "forbidden"
        assert await _rpc_status(a_in_b.get_workflow_handle(sig_id).terminate("no")) == "forbidden"
        start = a_in_b.start_workflow(GreetingWorkflow.run, "x", id=f"evil-{suffix}", task_queue=task_queue)
        assert await _rpc_status(start) == "forbidden"
    finally:
        await a_in_b.close()
    # In A it reads its own run, whose result is A's, not B's.
    a_in_a = await connect(ns_a, writer_a)
    try:
        assert await a_in_a.get_workflow_handle(wf_id).result() == f"Hello, {ns_a}!"
        assert await _rpc_status(a_in_a.get_workflow_handle(sig_id).describe()) == "not_found"
    finally:
        await a_in_a.close()

    # A reader reads but cannot write.
    reader = await connect(ns_a, reader_a)
    try:
        assert (await reader.get_workflow_handle(wf_id).describe()).id == wf_id
        start = reader.start_workflow(GreetingWorkflow.run, "x", id=f"r-{suffix}", task_queue=task_queue)
        assert await _rpc_status(start) == "forbidden"
    finally:
        await reader.close()

    # Raw HTTP: no key / a wrong key -> 401 with a challenge; a writer cannot manage keys or
    # namespaces; the namespace list is filtered to the key's scope.
    describe_a = f"/api/v1/namespaces/{ns_a}/workflows/{wf_id}"
    r = await http.get(describe_a)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"] == "application/problem+json"
    r = await http.get(describe_a, headers=_bearer(writer_a[:-4] + "AAAA"))
    assert r.status_code == 401
    r = await http.get("/api/v1/api-keys", headers=_bearer(writer_a))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await http.post("/api/v1/namespaces", headers=_bearer(writer_a), json={"name": f"x-{suffix}"})
    assert r.status_code == 403
    r = await http.get("/api/v1/namespaces", headers=_bearer(writer_a))
    assert [n["name"] for n in r.json()["namespaces"]] == [ns_a]
    # Unknown namespaces: 403 outside the key's scope (no probing), 404 for an admin.
    r = await http.get("/api/v1/namespaces/nope/workflows/x", headers=_bearer(writer_a))
    assert r.status_code == 403
    r = await http.post(
        "/api/v1/namespaces/nope/workflows",
        headers=_bearer(admin),
        json={"workflow_id": "x", "workflow_type": "GreetingWorkflow", "task_queue": "q"},
    )
    assert r.status_code == 404 and r.json()["code"] == "namespace_not_found"

    # Revocation: the frontend that revoked stops accepting the key at once.
    keys = await _admin_call(http, admin, "GET", "/api/v1/api-keys")
    reader_id = reader_a.split("_")[1]
    assert reader_id in {k["key_id"] for k in keys["api_keys"]}
    assert all("key" not in k and "key_hash" not in k for k in keys["api_keys"])
    await _admin_call(http, admin, "DELETE", f"/api/v1/api-keys/{reader_id}")
    r = await http.get(describe_a, headers=_bearer(reader_a))
    assert r.status_code == 401
