"""What history does with a message that failed on its own: a poison message.

The shard processor only gets here once a batch failed for a reason that is not the
infrastructure's (`tidal_server.faults.is_transient`) and the message failed again when applied
alone, with the database answering. Then:

1. attempts 1 .. `max_attempts - 1`: the message is republished to its shard after a backoff
   (`backoff_seconds`, doubling, at most `backoff_max_seconds`) with the attempt in the
   `x-tidal-delivery-attempt` header, and the original acked. The count travels with the message,
   so it survives a redelivery to another history process; only a crash during the backoff loses
   the current increment (the original comes back with its old count).
2. the last attempt: a `CompleteWorkflowTask` whose commands history cannot apply becomes a
   `FailWorkflowTask` with cause `BadCommandAttributes` and the error as the failure (published
   to the shard like any completion): the run records `WorkflowTaskFailed`, and the task is
   retried with backoff, as Temporal does for bad command attributes, instead of the run waiting
   forever on a completion that vanished. A fused completion (an activity result carrying a
   workflow task's completion) is sent again with the result alone. Any other message is
   dead-lettered with the error in `x-tidal-dead-letter-reason`, and a requester waiting for a
   reply gets an `ErrorReply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidal_schema import Failure, names
from tidal_schema.messages import (
    HISTORY_MESSAGE,
    CompleteActivityTask,
    CompleteWorkflowTask,
    ErrorCode,
    ErrorReply,
    FailWorkflowTask,
    HistoryMessage,
)
from tidal_server.bus import H_DELIVERY_ATTEMPT, Bus, BusError, Delivery, OutMessage
from tidal_server.faults import MESSAGE_SQLSTATE_CLASSES, describe, sqlstate

from . import metrics

__all__ = ["BAD_COMMAND_CAUSE", "PoisonHandler", "PoisonPolicy", "attempt_of", "failed_task"]

log = logging.getLogger("tidal.history.poison")

BAD_COMMAND_CAUSE = "BadCommandAttributes"


@dataclass(frozen=True, kw_only=True)
class PoisonPolicy:
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 10.0

    def delay(self, attempt: int) -> float:
        """The wait before attempt `attempt + 1`."""
        return float(min(self.backoff_seconds * 2 ** max(attempt - 1, 0), self.backoff_max_seconds))


def attempt_of(headers: Mapping[str, Any]) -> int:
    raw = headers.get(H_DELIVERY_ATTEMPT, 1)
    try:
        return max(int(raw), 1)
    except (TypeError, ValueError):
        return 1


def failed_task(msg: HistoryMessage | None, reason: str) -> FailWorkflowTask | CompleteActivityTask | None:
    """The FailWorkflowTask that stands for a completion history cannot apply (None: the message
    is not a workflow task completion). A fused completion (api/fused_completion.py) stands for
    its activity result alone: the result is acknowledged and must count; the task's completion
    is dropped, as a refused one is, and the worker replays."""
    if isinstance(msg, CompleteActivityTask) and msg.workflow_task is not None:
        return msg.model_copy(update={"workflow_task": None})
    if not isinstance(msg, CompleteWorkflowTask):
        return None
    return FailWorkflowTask(
        namespace=msg.namespace,
        workflow_id=msg.workflow_id,
        run_id=msg.run_id,
        scheduled_event_id=msg.scheduled_event_id,
        attempt=msg.attempt,
        failure=Failure(
            message=f"history could not apply the workflow task's commands: {reason}",
            type=BAD_COMMAND_CAUSE,
            source="history",
            non_retryable=False,
        ),
        cause=BAD_COMMAND_CAUSE,
        identity="tidal-history",
    )


def _error_code(exc: BaseException) -> ErrorCode:
    state = sqlstate(exc)
    if state is not None:
        return ErrorCode.INVALID_ARGUMENT if state[:2] in MESSAGE_SQLSTATE_CLASSES else ErrorCode.INTERNAL
    if isinstance(exc, ValueError | OverflowError | RecursionError | UnicodeError):
        return ErrorCode.INVALID_ARGUMENT
    return ErrorCode.INTERNAL


class PoisonHandler:
    """Retries, fails the workflow task of, or dead-letters one shard's poison messages."""

    def __init__(self, *, bus: Bus, shard_id: int, policy: PoisonPolicy) -> None:
        self._bus = bus
        self._shard_id = shard_id
        self.policy = policy
        self._pending: set[asyncio.Task[None]] = set()
        self._held: set[int] = set()  # id() of deliveries waiting for their retry (unsettled)

    def holds(self, delivery: Delivery) -> bool:
        """True while `delivery` waits for its retry: the processor must not requeue it."""
        return id(delivery) in self._held

    async def handle(self, delivery: Delivery, exc: BaseException) -> None:
        attempt = attempt_of(delivery.headers)
        reason = describe(exc)
        msg = _parse(delivery.body)
        what = msg.type if msg is not None else "message"
        if attempt < self.policy.max_attempts:
            delay = self.policy.delay(attempt)
            log.warning(
                "%s failed on attempt %d of %d (%s); retrying in %.1f s",
                what,
                attempt,
                self.policy.max_attempts,
                reason,
                delay,
                extra=_extra(self._shard_id, msg),
            )
            self._held.add(id(delivery))
            task = asyncio.create_task(self._retry_later(delivery, attempt + 1, delay))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            return
        reason = f"{reason} (after {attempt} attempts)"
        replacement = failed_task(msg, reason)
        if replacement is not None:
            log.warning(
                "failing the workflow task: its completion could not be applied: %s",
                reason,
                extra=_extra(self._shard_id, msg),
            )
            await self._republish(delivery, replacement.model_dump_json().encode(), attempt=None)
            metrics.POISON_FAILED_TASK.inc()
            await delivery.ack()
            return
        log.error("dead-lettering %s: %s", what, reason, extra=_extra(self._shard_id, msg))
        reason = f"history could not apply {what}: {reason}"
        if delivery.reply_to:
            await self._reply_error(delivery, _error_code(exc), reason)
        metrics.POISON_DEAD_LETTERED.inc()
        await delivery.dead_letter(f"{_error_code(exc).value}: {reason}")

    async def reject(self, delivery: Delivery, reason: str) -> None:
        """Dead-letter a message that is invalid as it stands (no retry can help), answering a
        requester that waits for it: otherwise it would time out and retry the same request."""
        if delivery.reply_to:
            await self._reply_error(delivery, ErrorCode.INVALID_ARGUMENT, reason)
        await delivery.dead_letter(reason)

    async def stop(self) -> None:
        """Cancel pending retries: their originals are still unacked, so cancelling the consumer
        puts them back on the queue with their attempt count."""
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)

    async def _retry_later(self, delivery: Delivery, attempt: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            try:
                await self._republish(delivery, delivery.body, attempt=attempt)
                metrics.POISON_RETRIED.inc()
                await delivery.ack()
            except BusError:
                log.warning("could not republish a failed message for a retry; requeueing it", exc_info=True)
                with contextlib.suppress(BusError):
                    await delivery.nack(requeue=True)
        finally:
            self._held.discard(id(delivery))

    async def _republish(self, delivery: Delivery, body: bytes, *, attempt: int | None) -> None:
        headers = dict(delivery.headers)
        if attempt is None:
            headers.pop(H_DELIVERY_ATTEMPT, None)
        else:
            headers[H_DELIVERY_ATTEMPT] = attempt
        await self._bus.publish(
            OutMessage(
                exchange=names.HISTORY_EXCHANGE,
                routing_key=names.shard_routing_key(self._shard_id),
                body=body,
                headers=headers,
                message_id=delivery.message_id,
                correlation_id=delivery.correlation_id,
                reply_to=delivery.reply_to,
            )
        )

    async def _reply_error(self, delivery: Delivery, code: ErrorCode, reason: str) -> None:
        reply = ErrorReply(code=code, message=reason)
        try:
            await self._bus.publish(
                OutMessage(
                    exchange="",
                    routing_key=delivery.reply_to or "",
                    correlation_id=delivery.correlation_id,
                    body=reply.model_dump_json().encode(),
                    mandatory=False,
                )
            )
        except BusError:
            log.warning("could not answer the requester of a dead-lettered message", exc_info=True)


def _parse(body: bytes) -> HistoryMessage | None:
    try:
        return HISTORY_MESSAGE.validate_json(body)
    except Exception:
        return None


def _extra(shard_id: int, msg: HistoryMessage | None) -> dict[str, Any]:
    if msg is None:
        return {"shard": shard_id}
    return {
        "shard": shard_id,
        "namespace": msg.namespace,
        "workflow_id": msg.workflow_id,
        "run_id": getattr(msg, "run_id", None),
    }
