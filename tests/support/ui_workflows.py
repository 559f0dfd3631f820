"""Workflows the web UI's browser tests and `make screenshots` run: activities with retries, a
timer, a signal to wait for, a query, a child, a failure with a cause chain, and pending work
(an activity backing off before its next attempt, one heartbeating its progress)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow
from tidal.common import RetryPolicy
from tidal.exceptions import ApplicationError

__all__ = [
    "ALL_ACTIVITIES",
    "ALL_WORKFLOWS",
    "TASK_QUEUE",
    "LongHistoryWorkflow",
    "OrderWorkflow",
    "PaymentWorkflow",
    "PendingWorkWorkflow",
    "RenewalWorkflow",
    "ShipmentWorkflow",
]

TASK_QUEUE = "ui-orders"


@activity.defn
async def reserve_stock(order_id: str) -> str:
    return f"reserved {order_id}"


@activity.defn
async def charge_card(order_id: str) -> str:
    """Fails the first attempt (a flaky payment provider), succeeds on the second."""
    if activity.info().attempt < 2:
        raise ApplicationError("card processor timed out", type="ProcessorUnavailable")
    return f"charged {order_id}"


@activity.defn
async def decline_card(order_id: str) -> str:
    raise ApplicationError(f"card declined for {order_id}", type="CardDeclined", non_retryable=True)


@activity.defn
async def sync_ledger(order_id: str) -> str:
    """Always fails; its retry policy waits an hour between attempts, so it stays backing off."""
    raise ApplicationError(f"ledger unreachable for {order_id}", type="LedgerDown")


@activity.defn
async def scan_inventory(order_id: str) -> str:
    """Heartbeats its progress until cancelled (or its run closes; at most two minutes)."""
    scanned = 0
    for _ in range(600):
        scanned += 10
        activity.heartbeat({"order": order_id, "scanned": scanned})
        await asyncio.sleep(0.2)
    return f"scanned {scanned}"


@workflow.defn
class ShipmentWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.sleep(0.2)
        return f"shipped {order_id}"


@workflow.defn
class OrderWorkflow:
    """Reserve, charge (retried once), wait for `approve`, ship in a child workflow."""

    def __init__(self) -> None:
        self.stage = "started"
        self.approved_by: str | None = None

    @workflow.run
    async def run(self, order_id: str) -> str:
        opts = {"start_to_close_timeout": timedelta(seconds=30)}
        retry = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)
        self.stage = "reserving"
        await workflow.execute_activity(reserve_stock, order_id, **opts)  # type: ignore[arg-type]
        self.stage = "charging"
        await workflow.execute_activity(charge_card, order_id, retry_policy=retry, **opts)  # type: ignore[arg-type]
        self.stage = "waiting for approval"
        await workflow.sleep(0.3)
        await workflow.wait_condition(lambda: self.approved_by is not None)
        self.stage = "shipping"
        shipped = await workflow.execute_child_workflow(
            ShipmentWorkflow.run, order_id, id=f"{workflow.info().workflow_id}-shipment"
        )
        self.stage = "done"
        return f"{shipped}, approved by {self.approved_by}"

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approved_by = who

    @workflow.query
    def status(self) -> str:
        return self.stage


@workflow.defn
class PaymentWorkflow:
    """Fails: the card is declined (non-retryable), so the workflow fails with that cause."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.execute_activity(reserve_stock, order_id, start_to_close_timeout=timedelta(seconds=30))
        try:
            return await workflow.execute_activity(
                decline_card, order_id, start_to_close_timeout=timedelta(seconds=30)
            )
        except Exception as exc:
            raise ApplicationError(f"payment for {order_id} failed", type="PaymentFailed") from exc


@workflow.defn
class PendingWorkWorkflow:
    """An activity backing off for an hour, one heartbeating, and a child: pending work to show."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        ledger = workflow.execute_activity(
            sync_ledger,
            order_id,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(hours=1), maximum_attempts=5),
        )
        scan = workflow.execute_activity(
            scan_inventory,
            order_id,
            start_to_close_timeout=timedelta(hours=1),
            # Heartbeats go out at most every 80% of this: the page sees the details move on.
            heartbeat_timeout=timedelta(seconds=10),
        )
        child = workflow.execute_child_workflow(
            OrderWorkflow.run, order_id, id=f"{workflow.info().workflow_id}-order"
        )
        results = await asyncio.gather(ledger, scan, child)
        return ", ".join(results)


@workflow.defn
class RenewalWorkflow:
    """A run chain: the first attempt fails and is retried (with a retry policy), then the run
    continues as new `cycles` times."""

    @workflow.run
    async def run(self, cycles: int) -> str:
        if workflow.info().attempt == 1 and cycles > 0:
            raise ApplicationError("renewal service busy", type="Busy")
        if cycles > 0:
            workflow.continue_as_new(cycles - 1)
        return "renewed"


@workflow.defn
class LongHistoryWorkflow:
    """A long history for the page-load bench: `count` activities, `batch` at a time (each
    scheduled, started, completed), so `count=650, batch=50` makes about 2,000 events."""

    @workflow.run
    async def run(self, count: int, batch: int) -> int:
        done = 0
        while done < count:
            n = min(batch, count - done)
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        reserve_stock, f"item-{done + i}", start_to_close_timeout=timedelta(seconds=60)
                    )
                    for i in range(n)
                )
            )
            done += n
        return done


ALL_WORKFLOWS = [
    OrderWorkflow,
    PaymentWorkflow,
    ShipmentWorkflow,
    PendingWorkWorkflow,
    RenewalWorkflow,
    LongHistoryWorkflow,
]
ALL_ACTIVITIES = [reserve_stock, charge_card, decline_card, sync_ledger, scan_inventory]
