"""The public AMQP command exchange: commands published to `tidal.commands` by any AMQP client.

This module is only an adapter: it parses the AMQP message into the request of an operation
(`operations/`), the same typed entry the HTTP route calls, so both surfaces validate, authorise,
check the namespace, rate-limit and behave identically. A command is acked only once history
has answered; while history is unavailable it is requeued with backoff (the request id makes the
retry safe). Bad input is dead-lettered with the reason in `x-tidal-dead-letter-reason`; refusals
by history (already_started, not_found) are only answered. Neither stops the consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from tidal_schema import Payload, names
from tidal_schema.client_commands import (
    CLIENT_COMMAND,
    CancelWorkflowCommand,
    ClientCommand,
    CommandAccepted,
    CommandRejected,
    CommandType,
    SignalWithStartCommand,
    SignalWorkflowCommand,
    StartWorkflowCommand,
    TerminateWorkflowCommand,
)
from tidal_schema.limits import MAX_DOCUMENT_DEPTH, document_depth_exceeds
from tidal_server.bus import BusClosedError, BusError, Consumer, Delivery, OutMessage, QueueSpec
from tidal_server.faults import describe, is_transient

from . import metrics
from .authn import UNRESTRICTED, Principal
from .context import FrontendContext
from .operations import cancel_workflow, signal_workflow, start_workflow, terminate_workflow
from .operations.policy import admit
from .problems import Problem

log = logging.getLogger("tidal.frontend.commands")

# Codes whose command is dead-lettered (bad input, something history could not handle, or a start
# over its namespace's rate limit: parked for an operator to replay); the other refusals
# (already_started, not_found, namespace_not_found, namespace_deprecated) are only answered.
_DEAD_LETTER = {
    "bad_json",
    "invalid_command",
    "payload_too_large",
    "invalid_argument",
    "internal",
    "rate_limited",
}
_BACKOFF_MAX_SECONDS = 5.0

DeadLetterHook = Callable[[str], None]
"""Called with the reason code (bad_json, invalid_command, payload_too_large, invalid_argument,
internal, rate_limited) each time a command is dead-lettered: the seam for the metrics counter
`tidal_frontend_commands_dead_lettered_total{reason}`."""


_PUBLISHER: Principal = UNRESTRICTED
"""Who a command acts as. The broker authenticated the publisher, and its permission to write to
`tidal.commands` is the authorisation (docs/security.md): it grants every namespace."""


class _Rejected(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        command: str | None = None,
        workflow_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.code = code
        self.message = message
        self.command = command
        self.workflow_id = workflow_id


class CommandConsumer:
    def __init__(self, ctx: FrontendContext, *, on_dead_letter: DeadLetterHook | None = None) -> None:
        self._ctx = ctx
        self._on_dead_letter = on_dead_letter
        self._consumer: Consumer | None = None
        self._failures = 0  # consecutive "history unavailable" outcomes, for the backoff
        self.dead_lettered: Counter[str] = Counter()
        """Dead-lettered commands by reason code, since start."""

    async def start(self) -> None:
        bus = self._ctx.bus
        await bus.declare_exchange(names.COMMANDS_EXCHANGE, "topic")
        await bus.declare_queue(
            QueueSpec(name=names.COMMANDS_QUEUE, bindings=[(names.COMMANDS_EXCHANGE, "#")])
        )
        self._consumer = await bus.consume(
            names.COMMANDS_QUEUE, self._handle, prefetch=self._ctx.settings.command_prefetch
        )

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()  # unsettled commands go back to the queue
            self._consumer = None

    async def _handle(self, delivery: Delivery) -> None:
        try:
            reply = await self._execute(delivery)
        except _Rejected as rej:
            rejected = CommandRejected(
                command=rej.command,
                workflow_id=rej.workflow_id,
                code=rej.code,
                message=rej.message,
                dead_lettered=rej.code in _DEAD_LETTER,
                run_id=rej.run_id,
            )
            await self._reply(delivery, rejected)
            if rejected.dead_lettered:
                self.dead_lettered[rej.code] += 1
                metrics.COMMANDS_DEAD_LETTERED.labels(rej.code).inc()
                if self._on_dead_letter is not None:
                    self._on_dead_letter(rej.code)
                await _settle(delivery.dead_letter(f"{rej.code}: {rej.message}"))
            else:
                await _settle(delivery.ack())
            return
        except Problem as exc:  # only "unavailable" gets here
            self._failures += 1
            delay = min(0.1 * 2**self._failures, _BACKOFF_MAX_SECONDS)
            log.warning("command not accepted (%s); requeueing in %.1fs", exc.detail, delay)
            await asyncio.sleep(delay)
            await _settle(delivery.nack(requeue=True))
            return
        self._failures = 0
        await self._reply(delivery, reply)
        await _settle(delivery.ack())

    async def _execute(self, delivery: Delivery) -> CommandAccepted:
        try:
            return await self._execute_parsed(delivery)
        except (_Rejected, Problem):
            raise
        except Exception as exc:
            if is_transient(exc):
                # The database or the broker is down (e.g. the namespace lookup's connection was
                # refused): the command is good, so back off and requeue it like any
                # `unavailable`; its request id makes the later attempt safe.
                raise Problem(
                    "unavailable", f"a backend dependency is unavailable: {describe(exc)}"
                ) from None
            # A bug, not something a retry fixes: answer and dead-letter it in the documented
            # `<code>: <detail>` form rather than let the bus dead-letter it without a reply.
            log.exception("command failed unexpectedly; dead-lettering it")
            raise _Rejected("internal", f"{type(exc).__name__}: {exc}"[:1000]) from None

    async def _execute_parsed(self, delivery: Delivery) -> CommandAccepted:
        cmd = self._parse(delivery)
        request_id = delivery.message_id or cmd.request_id or str(uuid.uuid4())
        try:
            return await self._apply(cmd, request_id)
        except ValidationError as exc:
            raise _Rejected("invalid_argument", _short(exc), cmd.type, cmd.workflow_id) from None
        except Problem as exc:
            if exc.code == "unavailable":
                raise
            run_id = exc.extra.get("run_id")
            raise _Rejected(exc.code, exc.detail, cmd.type, cmd.workflow_id, run_id) from None

    def _parse(self, delivery: Delivery) -> ClientCommand:
        limit = self._ctx.settings.max_body_bytes
        if len(delivery.body) > limit:
            raise _Rejected(
                "payload_too_large", f"the command is {len(delivery.body)} bytes; the limit is {limit}"
            )
        # Before any recursive parser runs: json.loads and pydantic both have recursion limits.
        if document_depth_exceeds(delivery.body, MAX_DOCUMENT_DEPTH):
            raise _Rejected("invalid_argument", f"the command nests deeper than {MAX_DOCUMENT_DEPTH} levels")
        try:
            raw = json.loads(delivery.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError covers JSONDecodeError and integers longer than Python converts.
            raise _Rejected("bad_json", f"the body is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise _Rejected("invalid_command", f"a command is a JSON object, not {type(raw).__name__}")
        key = delivery.routing_key
        raw.setdefault("type", key)
        if key in set(CommandType) and raw["type"] != key:
            raise _Rejected("invalid_command", f"type {raw['type']!r} contradicts the routing key {key!r}")
        try:
            return CLIENT_COMMAND.validate_python(raw)
        except ValidationError as exc:
            # Error locations start with the union's tag ("signal.signal_name"): drop it.
            tag = str(raw["type"])
            raise _Rejected("invalid_command", _short(exc, drop=tag), tag) from None

    async def _apply(self, cmd: ClientCommand, request_id: str) -> CommandAccepted:
        ctx, ns, wf = self._ctx, cmd.namespace, cmd.workflow_id
        kind = CommandType(cmd.type)
        if isinstance(cmd, StartWorkflowCommand | SignalWithStartCommand):
            admitted = await admit(ctx, _PUBLISHER, ns, start_workflow.POLICY)
            body = start_workflow.StartWorkflowRequest.model_validate(_start_request(cmd, request_id))
            started = await start_workflow.start_workflow(ctx, admitted, body)
            return CommandAccepted(
                command=kind,
                workflow_id=wf,
                run_id=started.run_id,
                started=started.started,
                request_id=request_id,
            )
        if isinstance(cmd, SignalWorkflowCommand):
            ref = await signal_workflow.signal_workflow(
                ctx,
                await admit(ctx, _PUBLISHER, ns, signal_workflow.POLICY),
                wf,
                signal_workflow.SignalWorkflowRequest(
                    signal_name=cmd.signal_name,
                    args=cmd.args,
                    run_id=cmd.run_id,
                    request_id=request_id,
                    identity=cmd.identity,
                ),
            )
        elif isinstance(cmd, CancelWorkflowCommand):
            ref = await cancel_workflow.cancel_workflow(
                ctx,
                await admit(ctx, _PUBLISHER, ns, cancel_workflow.POLICY),
                wf,
                cancel_workflow.CancelWorkflowRequest(
                    reason=cmd.reason, run_id=cmd.run_id, request_id=request_id, identity=cmd.identity
                ),
            )
        else:
            assert isinstance(cmd, TerminateWorkflowCommand)
            ref = await terminate_workflow.terminate_workflow(
                ctx,
                await admit(ctx, _PUBLISHER, ns, terminate_workflow.POLICY),
                wf,
                terminate_workflow.TerminateWorkflowRequest(
                    reason=cmd.reason, run_id=cmd.run_id, identity=cmd.identity
                ),
            )
        return CommandAccepted(command=kind, workflow_id=wf, run_id=ref.run_id, request_id=request_id)

    async def _reply(self, delivery: Delivery, reply: BaseModel) -> None:
        if not delivery.reply_to:
            return
        try:
            await self._ctx.bus.publish(
                OutMessage(
                    exchange="",
                    routing_key=delivery.reply_to,
                    correlation_id=delivery.correlation_id,
                    body=reply.model_dump_json(exclude_none=True).encode(),
                    mandatory=False,  # a requester that went away is fine
                )
            )
        except BusError:
            log.warning("could not send the reply to %r", delivery.reply_to, exc_info=True)


async def _settle(action: Awaitable[None]) -> None:
    try:
        await action
    except BusClosedError:
        # The consumer stopped (or the connection dropped) meanwhile: the broker has requeued the
        # command, and its request id makes the redelivery safe.
        log.info("a command was requeued by the broker before it could be settled")


def _start_request(cmd: StartWorkflowCommand | SignalWithStartCommand, request_id: str) -> dict[str, Any]:
    """The HTTP start request body the command stands for."""
    fields = cmd.model_dump(
        exclude={"type", "schema_version", "namespace", "signal_name", "signal_args", "memo"},
        exclude_none=True,
    )
    fields["request_id"] = request_id
    fields["memo"] = {k: Payload(data=v) for k, v in cmd.memo.items()}
    if isinstance(cmd, SignalWithStartCommand):
        fields["start_signal"] = {"name": cmd.signal_name, "args": cmd.signal_args}
    return fields


def _short(exc: ValidationError, *, drop: str | None = None) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = [str(x) for x in e["loc"]]
        if loc and loc[0] == drop:
            loc = loc[1:]
        parts.append(f"{'.'.join(loc) or '(body)'}: {e['msg']}")
    return "; ".join(parts)
