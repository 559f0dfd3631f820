"""The public command exchange on the real stack, driven by clients that are not ours: Debian's
`amqp-publish` (amqp-tools) and pika."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pika
import pytest
from tidal.client import Client
from tidal.worker import Worker
from tidal_schema import WorkflowExecutionStatus, names
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, H_DL_ROUTING_KEY

from tests.e2e import scenarios_commands as sc
from tests.support.stack import ROOT, Stack, wait_for

EXAMPLE = ROOT / "examples" / "commands_pika.py"

AMQP_PUBLISH = shutil.which("amqp-publish")
needs_amqp_tools = pytest.mark.skipif(
    AMQP_PUBLISH is None, reason="Debian's amqp-tools is not installed (apt-get install -y amqp-tools)"
)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    # Lazy: the tests start the services after taking the client (connect checks /healthz).
    c = await Client.connect(stack.address, lazy=True)
    yield c
    await c.close()


def amqp_publish(url: str, routing_key: str, body: str) -> None:
    """Exactly what a shell user types (see docs/commands.md)."""
    assert AMQP_PUBLISH is not None
    subprocess.run(
        [
            AMQP_PUBLISH,
            *("-u", url, "-e", names.COMMANDS_EXCHANGE, "-r", routing_key),
            *("-C", "application/json", "-p", "-b", body),
        ],
        check=True,
        timeout=30,
        capture_output=True,
    )


class DeadLetters:
    """Reads tidal.dead-letter with pika (no Tidal code involved)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.seen: list[tuple[bytes, dict[str, Any]]] = []

    def _drain(self) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(self._url))
        try:
            ch = conn.channel()
            while True:
                method, props, body = ch.basic_get(DLQ_QUEUE, auto_ack=True)
                if method is None:
                    return
                self.seen.append((body, dict(props.headers or {})))
        finally:
            conn.close()

    async def wait_for_reason(self, prefix: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            await asyncio.to_thread(self._drain)
            found[:] = [h for _, h in self.seen if str(h.get(H_DL_REASON, "")).startswith(prefix)]
            return bool(found)

        try:
            await wait_for(arrived, timeout=30, interval=0.2, what=f"a dead letter with reason {prefix!r}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; seen: {[h.get(H_DL_REASON) for _, h in self.seen]}") from None
        return found[0]


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except Exception:
        return False
    return True


@needs_amqp_tools
async def test_amqp_publish_starts_signals_and_dead_letters_garbage(stack: Stack, client: Client) -> None:
    for name in ("history", "matching", "timer", "frontend"):
        stack.start(name)
    await stack.wait_ready()
    url = stack.amqp_url
    async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
        wf_id = f"amqp-publish-{uuid.uuid4()}"
        start = {"workflow_id": wf_id, "workflow_type": "ApprovalWorkflow", "task_queue": sc.TASK_QUEUE}
        amqp_publish(url, "start", json.dumps({**start, "args": ["order-9"]}))
        await wait_for(lambda: _exists(client, wf_id), timeout=30, what="the run started by amqp-publish")
        signal = {"workflow_id": wf_id, "signal_name": "approve", "args": ["dave"]}
        amqp_publish(url, "signal", json.dumps(signal))
        assert await client.get_workflow_handle(wf_id).result() == "order-9 approved by dave"

        # Garbage, a schema violation and an unknown command: dead-lettered with their reasons.
        dead = DeadLetters(url)
        amqp_publish(url, "start", "this is not json")
        amqp_publish(url, "signal", json.dumps({"workflow_id": wf_id}))
        amqp_publish(url, "launch", json.dumps({"workflow_id": wf_id}))
        bad_json = await dead.wait_for_reason("bad_json")
        assert bad_json[H_DL_ROUTING_KEY] == "start"
        assert bad_json["x-tidal-original-queue"] == names.COMMANDS_QUEUE
        invalid = await dead.wait_for_reason("invalid_command: signal_name")
        assert invalid[H_DL_ROUTING_KEY] == "signal"
        unknown = await dead.wait_for_reason("invalid_command")
        assert unknown and any(h[H_DL_ROUTING_KEY] == "launch" for _, h in dead.seen)

        # The frontend still serves HTTP, and the next command (a signal-with-start) works.
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{stack.address}/readyz")).status_code == 200
        second = f"amqp-publish-sws-{uuid.uuid4()}"
        amqp_publish(
            url,
            "signal-with-start",
            json.dumps(
                {
                    **start,
                    "workflow_id": second,
                    "args": ["order-10"],
                    "signal_name": "approve",
                    "signal_args": ["erin"],
                    "request_id": "sws-erin",
                }
            ),
        )
        await wait_for(lambda: _exists(client, second), timeout=30, what="the signal-with-start run")
        assert await client.get_workflow_handle(second).result() == "order-10 approved by erin"

        # cancel and terminate: runs waiting for approvals that never come.
        for verb, status in (
            ("cancel", WorkflowExecutionStatus.CANCELED),
            ("terminate", WorkflowExecutionStatus.TERMINATED),
        ):
            wid = f"amqp-publish-{verb}-{uuid.uuid4()}"
            amqp_publish(url, "start", json.dumps({**start, "workflow_id": wid, "args": ["order", 5]}))
            await wait_for(lambda w=wid: _exists(client, w), timeout=30, what=f"the run to {verb}")
            amqp_publish(url, verb, json.dumps({"workflow_id": wid, "reason": "amqp test"}))

            async def ended(w: str = wid, s: WorkflowExecutionStatus = status) -> bool:
                return (await client.get_workflow_handle(w).describe()).status is s

            await wait_for(ended, timeout=30, what=f"the run to end {status.value}")


class PikaCaller:
    """A pika client with its own exclusive reply queue: publish a command with reply_to and
    correlation_id, then wait for the answer (pika is blocking, so it runs in a thread)."""

    def __init__(self, url: str) -> None:
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.reply_queue = self.ch.queue_declare("", exclusive=True).method.queue

    def publish(self, routing_key: str, body: bytes, *, message_id: str | None = None) -> str:
        correlation_id = uuid.uuid4().hex
        self.ch.basic_publish(
            exchange=names.COMMANDS_EXCHANGE,
            routing_key=routing_key,
            body=body,
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=2,
                reply_to=self.reply_queue,
                correlation_id=correlation_id,
                message_id=message_id,
            ),
        )
        return correlation_id

    def reply(self, correlation_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            method, props, body = self.ch.basic_get(self.reply_queue, auto_ack=True)
            if method is None:
                self.conn.process_data_events(time_limit=0.1)  # waits for network I/O, not a sleep
                continue
            if props.correlation_id == correlation_id:
                reply: dict[str, Any] = json.loads(body)
                return reply
        raise TimeoutError(f"no reply for {correlation_id} in {timeout}s")

    def call(self, routing_key: str, body: Any, *, message_id: str | None = None) -> dict[str, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.reply(self.publish(routing_key, raw, message_id=message_id))

    def close(self) -> None:
        self.conn.close()


async def test_pika_replies_dedup_refusals_and_history_outage(stack: Stack, client: Client) -> None:
    # History is not running yet: the command must wait (requeued with backoff), not be lost.
    for name in ("matching", "timer"):
        stack.start(name)
    stack.start("frontend", TIDAL_MAX_BODY_BYTES="4096")
    await stack.wait_ready()
    caller = await asyncio.to_thread(PikaCaller, stack.amqp_url)
    try:
        wf_id = f"pika-{uuid.uuid4()}"
        start = {
            "workflow_id": wf_id,
            "workflow_type": "ApprovalWorkflow",
            "task_queue": sc.TASK_QUEUE,
            "args": ["order-11", 1],
        }
        body = json.dumps(start).encode()
        corr = await asyncio.to_thread(caller.publish, "start", body, message_id="start-11")
        await wait_for(
            lambda: "requeueing" in stack.log_of("frontend"),
            timeout=30,
            what="the frontend to requeue the command while history is down",
        )
        stack.start("history")
        accepted = await asyncio.to_thread(caller.reply, corr)
        assert accepted["type"] == "CommandAccepted" and accepted["command"] == "start"
        assert accepted["started"] is True and accepted["request_id"] == "start-11"
        run_id = accepted["run_id"]

        # The same message_id again is the same request: the same run, not a second one.
        dup = await asyncio.to_thread(caller.call, "start", start, message_id="start-11")
        assert dup["type"] == "CommandAccepted" and dup["run_id"] == run_id

        # A different request for the running id is refused (answered, not dead-lettered).
        refused = await asyncio.to_thread(caller.call, "start", start, message_id="start-12")
        assert refused["type"] == "CommandRejected" and refused["code"] == "already_started"
        assert refused["dead_lettered"] is False and refused["run_id"] == run_id
        missing = await asyncio.to_thread(
            caller.call, "signal", {"workflow_id": f"nope-{uuid.uuid4()}", "signal_name": "approve"}
        )
        assert missing["code"] == "not_found" and missing["dead_lettered"] is False

        # Bad input gets a reply saying it was dead-lettered.
        too_big = await asyncio.to_thread(caller.call, "start", b'{"pad": "' + b"x" * 8000 + b'"}')
        assert too_big["code"] == "payload_too_large" and too_big["dead_lettered"] is True
        await DeadLetters(stack.amqp_url).wait_for_reason("payload_too_large")

        # Signal the run with the documented example script (pika, reply printed as JSON).
        signal = {"workflow_id": wf_id, "signal_name": "approve", "args": ["frank"]}
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(EXAMPLE), stack.amqp_url, "signal", json.dumps(signal), "sig-frank"],
            check=True,
            capture_output=True,
            timeout=90,
        )
        signalled = json.loads(out.stdout)
        assert signalled["type"] == "CommandAccepted" and signalled["run_id"] == run_id
        async with Worker(client, task_queue=sc.TASK_QUEUE, workflows=sc.WORKFLOWS):
            assert await client.get_workflow_handle(wf_id).result() == "order-11 approved by frank"
        history = await client.get_workflow_handle(wf_id).fetch_history()
        assert [e.event_type for e in history.events].count("WorkflowExecutionStarted") == 1
    finally:
        await asyncio.to_thread(caller.close)
