"""temporalio.converter parity (issue 11): a custom payload converter behind the encryption
codec with encoded failure attributes, and serialization contexts, as scenarios run on the
embedded server and on the real stack (tests/e2e/test_worker_parity.py)."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client, WorkflowHandle
from tidal.contrib.encryption import EncryptionCodec
from tidal.converter import (
    ActivitySerializationContext,
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from tidal.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowFailureError,
)
from tidal.worker import (
    Worker,
)
from tidal_schema import Payload

from tests.support.money import Money, MoneyEncoding


def with_converter(client: Client, converter: DataConverter) -> Client:
    """Another client on the same connection (and the same worker transport) with `converter`."""
    return Client(
        http=client._http,
        namespace=client.namespace,
        data_converter=converter,
        worker_transport=client._worker_transport,
        amqp_url=client._amqp_url,
    )


# --- custom payload converter, codec and failure converter -----------------------------------

SECRET = "4111-1111-1111-1111"


@dataclass(frozen=True)
class ContextTagged(EncodingPayloadConverter, WithSerializationContext):
    """json/plain that records, per value it encodes, the serialization context it was given."""

    context: SerializationContext | None = None

    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, str) and value.startswith("ctx?"):
            CONTEXTS.append((value, self.context))
        return JSONPlainPayloadConverter().to_payload(value)

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return JSONPlainPayloadConverter().from_payload(payload, type_hint)

    def with_context(self, context: SerializationContext) -> ContextTagged:
        return ContextTagged(context)


CONTEXTS: list[tuple[str, SerializationContext | None]] = []


class MoneyConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(BinaryNullPayloadConverter(), MoneyEncoding(), ContextTagged())


@activity.defn
async def charge(amount: Money, card: str) -> Money:
    if card == "declined":
        raise ApplicationError(f"card {card} declined: {SECRET}", type="Declined", non_retryable=True)
    return Money(amount.cents + 30, amount.currency)  # a fee


@workflow.defn
class Checkout:
    @workflow.run
    async def run(self, amount: Money, card: str) -> Money:
        workflow.payload_converter().to_payload("ctx?workflow")
        charged = await workflow.execute_activity(
            charge, args=[amount, card], start_to_close_timeout=timedelta(seconds=10)
        )
        if charged.cents > 10_000:
            raise ApplicationError(f"too expensive for {SECRET}", type="Limit")
        return charged


@activity.defn
async def note_context() -> str:
    return "ctx?activity"


def secure_converter() -> DataConverter:
    return DataConverter(
        payload_converter_class=MoneyConverter,
        payload_codec=EncryptionCodec(keys={"k1": KEY}),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


KEY = os.urandom(32)


async def _raw_history(client: Client, workflow_id: str) -> str:
    return json.dumps(await client._call("GET", client._wf_path(workflow_id, "/history")))


async def custom_converter_and_codec(client: Client, task_queue: str) -> None:
    """temporalio's encryption sample with a custom payload converter: history stores only
    encrypted payloads (values, activity input and result, and, with
    DefaultFailureConverterWithEncodedAttributes, failure messages and stack traces), while the
    worker and the client with the converter see the values and the real error messages."""
    secure = with_converter(client, secure_converter())
    async with Worker(secure, task_queue=task_queue, workflows=[Checkout], activities=[charge]):
        ok = await (await _checkout(secure, Money(1000, "EUR"), "4242", task_queue)).result()
        assert ok == Money(1030, "EUR")
        declined = await _checkout(secure, Money(5, "EUR"), "declined", task_queue)
        activity_error = (await _failure(declined)).cause
        assert isinstance(activity_error, ActivityError), repr(activity_error)
        app = activity_error.cause
        assert isinstance(app, ApplicationError) and app.type == "Declined"
        assert app.message == f"card declined declined: {SECRET}"
        too_much = await _checkout(secure, Money(20_000, "EUR"), "4242", task_queue)
        cause = (await _failure(too_much)).cause
        assert isinstance(cause, ApplicationError) and cause.message == f"too expensive for {SECRET}"
    for handle in (declined, too_much):
        stored = await _raw_history(client, handle.id)
        # ' EUR"' as the stored JSON would hold a plain money/v1 value ("1030 EUR"): a bare EUR
        # turns up in base64 ciphertext now and then, which made this check fail at random.
        assert SECRET not in stored and ' EUR"' not in stored and "money/v1" not in stored
        assert "Encoded failure" in stored and '"binary/encrypted"' in stored
    # Without the codec the failure still reads, with temporalio's placeholder message.
    plain = with_converter(client, DataConverter(payload_converter_class=MoneyConverter))
    cause = (await _failure(plain.get_workflow_handle(too_much.id))).cause
    assert isinstance(cause, ApplicationError) and cause.message == "Encoded failure"


async def _checkout(client: Client, amount: Money, card: str, task_queue: str) -> WorkflowHandle[Any, Money]:
    return await client.start_workflow(
        Checkout.run, args=[amount, card], id=f"checkout-{uuid.uuid4()}", task_queue=task_queue
    )


async def _failure(handle: WorkflowHandle[Any, Any]) -> WorkflowFailureError:
    try:
        await handle.result()
    except WorkflowFailureError as e:
        return e
    raise AssertionError("the workflow should have failed")


async def serialization_contexts(client: Client, task_queue: str) -> None:
    """The worker gives context-aware converters the run's WorkflowSerializationContext in
    workflow code and the attempt's ActivitySerializationContext in activities."""
    tagged = with_converter(client, DataConverter(payload_converter_class=MoneyConverter))
    workflow_id = f"contexts-{uuid.uuid4()}"
    async with Worker(tagged, task_queue=task_queue, workflows=[ContextWorkflow], activities=[note_context]):
        await tagged.execute_workflow(ContextWorkflow.run, id=workflow_id, task_queue=task_queue)
    seen = [(v, c) for v, c in CONTEXTS if c is not None and getattr(c, "workflow_id", "") == workflow_id]
    workflow_context = WorkflowSerializationContext(namespace=tagged.namespace, workflow_id=workflow_id)
    assert ("ctx?workflow", workflow_context) in seen
    # The activity's result is encoded by the activity (its context), then returned by the
    # workflow (the run's context).
    activity_contexts = [
        c for v, c in seen if v == "ctx?activity" and isinstance(c, ActivitySerializationContext)
    ]
    assert len(activity_contexts) == 1, seen
    act = activity_contexts[0]
    assert (act.activity_type, act.activity_task_queue, act.workflow_type, act.is_local) == (
        "note_context",
        task_queue,
        "ContextWorkflow",
        False,
    )
    assert ("ctx?activity", workflow_context) in seen


@workflow.defn
class ContextWorkflow:
    @workflow.run
    async def run(self) -> str:
        workflow.payload_converter().to_payload("ctx?workflow")
        return await workflow.execute_activity(note_context, start_to_close_timeout=timedelta(seconds=10))
