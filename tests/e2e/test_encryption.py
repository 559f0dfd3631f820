"""Payload encryption (AES-GCM codec) end to end on the embedded server: the client and worker
see plain values, the server stores and serves only ciphertext."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta

import pytest
from tidal import activity, workflow
from tidal.client import Client
from tidal.contrib.encryption import DecryptionError, EncryptionCodec
from tidal.converter import DataConverter, PayloadConversionError
from tidal.exceptions import ApplicationError, WorkflowFailureError
from tidal.testing import WorkflowEnvironment
from tidal.worker import Replayer, Worker
from tidal_schema import Payload

SECRET = "4111-1111-1111-1111"
TQ = "encrypted"


@activity.defn
async def charge(card: str) -> str:
    if card == "declined":
        raise ApplicationError(f"card {card} declined: {SECRET}")
    return f"charged {card[-4:]}"


@workflow.defn
class Payment:
    def __init__(self) -> None:
        self.note = ""

    @workflow.run
    async def run(self, card: str) -> dict[str, str]:
        await workflow.wait_condition(lambda: bool(self.note))
        receipt = await workflow.execute_activity(charge, card, start_to_close_timeout=timedelta(seconds=10))
        return {"receipt": receipt, "note": self.note, "card": card}

    @workflow.signal
    def annotate(self, note: str) -> None:
        self.note = note

    @workflow.query
    def current_note(self) -> str:
        return self.note


def codec(**keys: bytes) -> DataConverter:
    return DataConverter(payload_codec=EncryptionCodec(keys=keys or {"k1": KEY1}))


KEY1 = os.urandom(32)
KEY2 = os.urandom(32)


async def test_server_sees_only_ciphertext_and_clients_see_values() -> None:
    env = await WorkflowEnvironment.start_local(data_converter=codec())
    try:
        async with Worker(env.client, task_queue=TQ, workflows=[Payment], activities=[charge]):
            handle = await env.client.start_workflow(
                Payment.run, SECRET, id=f"pay-{uuid.uuid4()}", task_queue=TQ
            )
            await handle.signal(Payment.annotate, f"note {SECRET}")
            result = await handle.result()
            assert result == {"receipt": "charged 1111", "note": f"note {SECRET}", "card": SECRET}
            assert await handle.query(Payment.current_note) == f"note {SECRET}"

            # What the server stored and serves: no plaintext anywhere in the history.
            raw = await env.client._call("GET", env.client._wf_path(handle.id, "/history"))
            text = json.dumps(raw)
            assert SECRET not in text and "charged" not in text
            assert '"binary/encrypted"' in text

            # Failures carry payloads too (details); the message is the SDK's, as in temporalio.
            failing = await env.client.start_workflow(
                Payment.run, "declined", id=f"pay-{uuid.uuid4()}", task_queue=TQ
            )
            await failing.signal(Payment.annotate, "x")
            await failing.terminate("done")  # the activity retries forever; no need to wait

            # Replaying the stored history needs the same codec.
            history = await handle.fetch_history()
            await Replayer(workflows=[Payment], data_converter=codec()).replay_workflow(history)

            # A client without the key cannot read the result, and says why.
            plain = Client(http=env.client._http, namespace="default")
            with pytest.raises(PayloadConversionError, match="binary/encrypted"):
                await plain.get_workflow_handle(handle.id).result()
    finally:
        await env.shutdown()


async def test_codec_rejects_tampering_and_unknown_keys_and_supports_rotation() -> None:
    old = EncryptionCodec(keys={"k1": KEY1})
    rotated = EncryptionCodec(keys={"k1": KEY1, "k2": KEY2}, encrypt_with="k2")
    [sealed] = await old.encode([Payload(data={"card": SECRET})])
    assert sealed.metadata["encryption-key-id"] == "k1" and SECRET not in str(sealed.data)
    # After rotation, old payloads still decode and new ones use the new key.
    assert (await rotated.decode([sealed]))[0].data == {"card": SECRET}
    [fresh] = await rotated.encode([Payload(data=1)])
    assert fresh.metadata["encryption-key-id"] == "k2"
    with pytest.raises(DecryptionError, match="unknown key id 'k2'"):
        await old.decode([fresh])
    tampered = Payload(metadata=dict(sealed.metadata), data=str(sealed.data)[:-6] + "AAAAAA")
    with pytest.raises(DecryptionError):
        await old.decode([tampered])
    # Plain payloads (e.g. from the HTTP API or an AMQP command) pass through.
    assert (await old.decode([Payload(data="plain")]))[0].data == "plain"


async def test_plain_arguments_from_outside_reach_an_encrypting_worker() -> None:
    env = await WorkflowEnvironment.start_local(data_converter=codec())
    try:
        async with Worker(env.client, task_queue=TQ, workflows=[Payment], activities=[charge]):
            # Started through the plain HTTP API (as curl or a non-Python client would).
            plain = Client(http=env.client._http, namespace="default")
            handle = await plain.start_workflow("Payment", "5555", id=f"pay-{uuid.uuid4()}", task_queue=TQ)
            await plain.get_workflow_handle(handle.id).signal("annotate", "hi")
            result = await env.client.get_workflow_handle(handle.id).result()
            assert result["receipt"] == "charged 5555"
    finally:
        await env.shutdown()


def test_wrong_key_size_is_refused() -> None:
    with pytest.raises(ValueError):
        EncryptionCodec(keys={"k": b"short"})


async def test_failure_details_are_encrypted() -> None:
    conv = codec()
    from tidal_schema import Failure

    f = Failure(
        message="m",
        details=(Payload(data=SECRET),),
        cause=Failure(message="c", details=(Payload(data=SECRET),)),
    )
    enc = await conv.encode_model(f)
    assert SECRET not in enc.model_dump_json()
    assert (await conv.decode_model(enc)) == f
    # decode_failure gives the exception, as temporalio's: decoded, then converted.
    err = await conv.decode_failure(enc)
    assert isinstance(err, ApplicationError) and err.details == (SECRET,)
    assert isinstance(err.cause, ApplicationError) and err.cause.details == (SECRET,)
    with pytest.raises(WorkflowFailureError):
        raise WorkflowFailureError(cause=ApplicationError("x"))
