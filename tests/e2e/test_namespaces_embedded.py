"""Namespaces on the embedded server with auth off: isolation by namespace, the namespace checks
on the AMQP command exchange, and deprecation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from tidal.client import Client
from tidal.exceptions import RPCError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker
from tidal_schema import names
from tidal_server.bus import OutMessage

from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, GreetingWorkflow


async def test_namespaces_isolate_and_gate_commands() -> None:
    env = await WorkflowEnvironment.start_local()
    try:
        admin = env.client
        ns = f"iso-{uuid.uuid4().hex[:8]}"
        await admin._call("POST", "/api/v1/namespaces", json={"name": ns})
        other = Client(http=admin._http, namespace=ns, worker_transport=env.server.worker_transport)
        wf_id = f"same-id-{uuid.uuid4().hex[:6]}"
        async with Worker(other, task_queue="iso", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
            assert (
                await other.execute_workflow(GreetingWorkflow.run, ns, id=wf_id, task_queue="iso")
                == f"Hello, {ns}!"
            )
        # The same id in default: nothing there (a namespace is its own id space).
        with pytest.raises(RPCError) as info:
            await admin.get_workflow_handle(wf_id).describe()
        assert info.value.status == "not_found"

        async def command(key: str, body: dict[str, Any]) -> dict[str, Any]:
            out = OutMessage(
                exchange=names.COMMANDS_EXCHANGE, routing_key=key, body=json.dumps(body).encode()
            )
            reply = await env.server.bus.request(out, timeout=30)
            result: dict[str, Any] = json.loads(reply.body)
            return result

        start = {
            "namespace": "nowhere",
            "workflow_id": "w",
            "workflow_type": "GreetingWorkflow",
            "task_queue": "q",
        }
        rejected = await command("start", start)
        assert rejected["type"] == "CommandRejected" and rejected["code"] == "namespace_not_found"
        assert rejected["dead_lettered"] is False
        rejected = await command("signal", {"namespace": "nowhere", "workflow_id": "w", "signal_name": "s"})
        assert rejected["code"] == "namespace_not_found"

        # Deprecated: AMQP and HTTP starts refused, reads still answer.
        await admin._call("DELETE", f"/api/v1/namespaces/{ns}")
        rejected = await command("start", {**start, "namespace": ns})
        assert rejected["code"] == "namespace_deprecated"
        with pytest.raises(RPCError) as info:
            await other.start_workflow(GreetingWorkflow.run, "x", id="new", task_queue="iso")
        assert info.value.status == "namespace_deprecated"
        assert await other.get_workflow_handle(wf_id).result() == f"Hello, {ns}!"
    finally:
        await env.shutdown()
