"""`Worker(max_task_queue_activities_per_second=...)`: the worker declares its task queue's
activity dispatch rate to matching, which enforces it for the whole task queue (temporalio's
option; docs/task-queue-rates.md). A worker without the option declares no rate: that changes no
limit, but tells a restarted matching process about the task queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tidal_schema import names
from tidal_schema.messages import (
    RATE_DECLARATION_INTERVAL_SECONDS,
    DeclareTaskQueueRate,
    check_activities_per_second,
)

from ._transport import WorkerTransport

__all__ = ["RateDeclarer", "check_rate_option"]

log = logging.getLogger("tidal.worker")


def check_rate_option(value: float | None) -> float | None:
    """The option's value, or a ValueError naming the option (0, negative, not finite)."""
    if value is None:
        return None
    try:
        return check_activities_per_second(value)
    except ValueError as exc:
        raise ValueError(f"max_task_queue_activities_per_second: {exc}") from None


class RateDeclarer:
    def __init__(
        self,
        *,
        transport: WorkerTransport,
        namespace: str,
        task_queue: str,
        per_second: float | None,
        identity: str,
        interval: float = RATE_DECLARATION_INTERVAL_SECONDS,
    ) -> None:
        self._transport = transport
        self._body = (
            DeclareTaskQueueRate(
                namespace=namespace,
                task_queue=task_queue,
                activities_per_second=per_second,
                identity=identity,
            )
            .model_dump_json()
            .encode()
        )
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def declare(self) -> None:
        """Tell every matching process; a failure is logged (the next interval tries again)."""
        try:
            await self._transport.publish_notice(
                names.RATES_EXCHANGE, names.MATCHING_RATES_ROUTING_KEY, self._body
            )
        except Exception as exc:
            # No matching process listening yet (or the broker is away): not this worker's failure.
            log.info("task queue rate declaration not delivered (%s); declaring again later", exc)

    def start(self) -> None:
        """Declare again every interval, so that a matching process that (re)starts learns it."""
        self._task = asyncio.create_task(self._again())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _again(self) -> None:
        while True:
            # The interval is the protocol's period, not a wait for some event.
            await asyncio.sleep(self._interval)
            await self.declare()
