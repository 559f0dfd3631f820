"""How a worker's answers reach the history shards: completions codec-encoded, and held to what
the bus takes."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel
from tidal_schema import names
from tidal_schema.messages import CompleteActivityTask, CompleteWorkflowTask

from ._task_errors import oversized_answer
from ._transport import WorkerTransport
from .converter import DataConverter

__all__ = ["CompletionPublisher"]

log = logging.getLogger("tidal.worker")


class CompletionPublisher:
    def __init__(self, *, transport: WorkerTransport, converter: Callable[[], DataConverter]) -> None:
        """`converter`: the client's current one (a worker's client can be replaced while it runs)."""
        self._transport = transport
        self._converter = converter

    async def publish_encoded(
        self, routing_key: str, message: BaseModel, converter: DataConverter | None = None
    ) -> None:
        """Publish a completion with its payloads codec-encoded (the server never sees plain ones
        when a codec is configured). One the bus would refuse is replaced by the failure that
        says so: republishing it could never succeed."""
        encoded = await (converter or self._converter()).encode_model(message)
        body = encoded.model_dump_json().encode()
        failed = oversized_answer(encoded, len(body), self._transport.max_message_bytes)
        if failed is not None:
            log.error("%s", failed.failure.message)
            body = failed.model_dump_json().encode()
        await self.publish(routing_key, body)

    async def publish_fused(
        self,
        routing_key: str,
        result: CompleteActivityTask,
        converter: DataConverter,
        task: CompleteWorkflowTask,
        task_converter: DataConverter,
    ) -> bool:
        """Publish an activity `result` with the completion of the workflow task the worker ran
        on it riding along (each encoded in its own context). One too large for the bus goes as
        the result alone (history then schedules the task); False then."""
        encoded = await converter.encode_model(result)
        nested = await task_converter.encode_model(task)
        body = encoded.model_copy(update={"workflow_task": nested}).model_dump_json().encode()
        if len(body) > self._transport.max_message_bytes:
            log.info("fused completion of %d bytes sent as the result alone", len(body))
            await self.publish_encoded(routing_key, result, converter)
            return False
        await self.publish(routing_key, body)
        return True

    async def publish(self, routing_key: str, body: bytes, **props: str | None) -> None:
        await self._transport.publish(names.HISTORY_EXCHANGE, routing_key, body, **props)
