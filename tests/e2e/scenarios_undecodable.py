"""Tasks a worker cannot decode (issue 9, defect 8): a payload encrypted with a key the worker
lacks must fail the workflow task (or the activity attempt) with the cause, visible in history,
and history's retry backoff must apply: no hot requeue loop. Run in both modes."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal._task_routing import TaskRouter
from tidal.client import Client
from tidal.contrib.encryption import EncryptionCodec
from tidal.converter import DataConverter
from tidal.worker import Worker

from tests.support.stack import wait_for

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Secretive:
    @workflow.run
    async def run(self, text: str) -> str:
        return text


@workflow.defn
class CallsShout:
    @workflow.run
    async def run(self, text: str) -> str:
        # The workflow itself sees a plain argument; the activity's input is encrypted with A.
        return await workflow.execute_activity(
            shout,
            text,
            start_to_close_timeout=timedelta(seconds=10),
            schedule_to_close_timeout=timedelta(seconds=60),
        )


def converter(key_id: str, key: bytes) -> DataConverter:
    return DataConverter(payload_codec=EncryptionCodec(keys={key_id: key}))


def with_codec(base: Client, key_id: str, key: bytes) -> Client:
    """Another client on the same server connection, with its own codec key."""
    return Client(
        http=base._http,
        namespace=base.namespace,
        data_converter=converter(key_id, key),
        worker_transport=base._worker_transport,
        amqp_url=base._amqp_url,
    )


class CountingWorker(Worker):
    """Counts task deliveries from the shared task queues (the worker's own router, no mock
    involved): workflow tasks and activity tasks, as they reach the worker's handlers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workflow_deliveries = 0
        self.activity_deliveries = 0
        counts = self

        class Counting(TaskRouter):
            async def on_workflow_task(self, delivery: Any) -> None:
                counts.workflow_deliveries += 1
                await super().on_workflow_task(delivery)

            async def on_activity_task(self, delivery: Any) -> None:
                counts.activity_deliveries += 1
                await super().on_activity_task(delivery)

        self._router_class = Counting


async def workflow_task_without_key(http_client: Client) -> None:
    """`http_client`: a client on the server; the worker's and the starter's codecs differ."""
    tq = f"nokey-{uuid.uuid4().hex[:8]}"
    starter = with_codec(http_client, "a", KEY_A)
    worker = CountingWorker(with_codec(http_client, "b", KEY_B), task_queue=tq, workflows=[Secretive])
    async with worker:
        handle = await starter.start_workflow(
            Secretive.run, "top secret", id=f"nokey-{uuid.uuid4()}", task_queue=tq
        )

        async def failed_recorded() -> bool:
            events = (await handle.fetch_history()).events
            return any(e.event_type == "WorkflowTaskFailed" for e in events)

        await wait_for(failed_recorded, timeout=30, what="WorkflowTaskFailed in history")
        events = (await handle.fetch_history()).events
        failed = next(e for e in events if e.event_type == "WorkflowTaskFailed")
        message = failed.attributes.failure.message  # type: ignore[union-attr]
        assert "decode" in message and "unknown key id 'a'" in message, message
        # Backoff applies: attempts 1 and 2 at once, then 1 s, 2 s... A hot requeue loop made
        # thousands of deliveries in this time.
        t0 = time.monotonic()
        await asyncio.sleep(3)  # measuring a rate over a fixed window, not synchronising
        assert 1 <= worker.workflow_deliveries <= 6, worker.workflow_deliveries
        assert time.monotonic() - t0 >= 3
        d = await handle.describe()
        assert "unknown key id" in (d.raw.get("last_workflow_task_failure") or {}).get("message", "")
        await handle.terminate("test over")


async def activity_task_without_key(http_client: Client) -> None:
    tq = f"nokey-act-{uuid.uuid4().hex[:8]}"
    both = with_codec(http_client, "a", KEY_A)
    other = with_codec(http_client, "b", KEY_B)
    # The workflow worker has key A, the activity worker only key B.
    wf_worker = Worker(both, task_queue=tq, workflows=[CallsShout])
    act_worker = CountingWorker(other, task_queue=tq, activities=[shout])
    async with wf_worker, act_worker:
        handle = await both.start_workflow(
            CallsShout.run, "psst", id=f"nokey-act-{uuid.uuid4()}", task_queue=tq
        )

        async def retried() -> bool:
            d = await handle.describe()
            return any(int(a.get("attempt", 1)) >= 2 for a in d.raw.get("pending_activities") or [])

        await wait_for(retried, timeout=30, what="the activity attempt to fail and be retried")
        d = await handle.describe()
        last = (d.raw.get("pending_activities") or [])[0].get("last_failure_message") or ""
        assert "unknown key id 'a'" in last, d.raw
        t0 = time.monotonic()
        before = act_worker.activity_deliveries
        assert before >= 1  # the failed attempt reached this worker (the only one with `shout`)
        await asyncio.sleep(2)  # measuring a rate over a fixed window
        assert act_worker.activity_deliveries - before <= 3, act_worker.activity_deliveries
        assert time.monotonic() - t0 >= 2
        await handle.terminate("test over")
