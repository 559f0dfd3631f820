"""Client edges ported from temporalio (issue 11): `RPCError`'s positional status,
`AsyncActivityHandle.with_context`, `ActivityCancellationDetails` in `tidal.client`. The HTTP
side is an in-process `httpx.MockTransport` that records what the client would send."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Sequence
from typing import Any, Self

import httpx
import pytest
from tidal import activity
from tidal.client import (
    ActivitySerializationContext,
    Client,
    PayloadLimitsConfig,
    ScheduleActionStartWorkflow,
)
from tidal.converter import DataConverter, PayloadCodec, SerializationContext, WithSerializationContext
from tidal.exceptions import RPCError
from tidal_schema import Payload
from tidal_schema.task_token import ActivityTaskToken


def test_rpc_error_takes_status_positionally_as_temporalio() -> None:
    err = RPCError("gone", "not_found", None)
    assert (err.message, err.status, err.raw_grpc_status, err.code) == ("gone", "not_found", None, None)
    assert RPCError("x").raw_grpc_status is None


def test_activity_cancellation_details_is_the_activity_modules() -> None:
    from tidal.client import ActivityCancellationDetails

    assert ActivityCancellationDetails is activity.ActivityCancellationDetails


class _TagCodec(PayloadCodec, WithSerializationContext):
    """Tags every payload with the activity id of the context it was given."""

    def __init__(self, activity_id: str | None = None) -> None:
        self.activity_id = activity_id

    def with_context(self, context: SerializationContext) -> Self:
        assert isinstance(context, ActivitySerializationContext)
        return type(self)(context.activity_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        tag = self.activity_id or "none"
        return [p.model_copy(update={"metadata": {**p.metadata, "tag": tag}}) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def _recording_client(bodies: list[dict[str, Any]], converter: DataConverter) -> Client:
    def app(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"run_id": "r1"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(app), base_url="http://t")
    return Client(http=http, data_converter=converter)


_TOKEN = ActivityTaskToken(
    namespace="default", workflow_id="w", run_id="r", scheduled_event_id=5, attempt=1, activity_id="a-7"
).encode()
_CONTEXT = ActivitySerializationContext(
    namespace="default",
    activity_id="a-7",
    activity_type="charge",
    activity_task_queue="q",
    workflow_id="w",
    workflow_type="Wf",
    is_local=False,
)


async def test_with_context_gives_the_converter_the_activity_context() -> None:
    bodies: list[dict[str, Any]] = []
    client = _recording_client(bodies, DataConverter(payload_codec=_TagCodec()))
    handle = client.get_async_activity_handle(task_token=_TOKEN)
    await handle.complete("plain")
    await handle.with_context(_CONTEXT).complete("with context")
    tags = [b["input"][0]["metadata"]["tag"] for b in bodies]
    assert tags == ["none", "a-7"]


def test_with_context_is_the_same_handle_when_nothing_uses_the_context() -> None:
    client = _recording_client([], DataConverter.default)
    handle = client.get_async_activity_handle(task_token=_TOKEN)
    assert handle.with_context(_CONTEXT) is handle


def test_payload_converter_outside_an_activity_says_so() -> None:
    with pytest.raises(RuntimeError, match="Not in activity context"):
        activity.payload_converter()


def _dead_address() -> str:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_lazy_connect_sends_nothing_and_the_first_call_fails_clearly() -> None:
    client = await Client.connect(_dead_address(), lazy=True, rpc_retry_seconds=0.2)
    try:
        with pytest.raises(RPCError, match="cannot reach the Tidal frontend") as info:
            await client.count_workflows()
        assert info.value.status == "unavailable"
    finally:
        await client.close()


async def test_eager_connect_to_a_dead_address_fails_at_connect() -> None:
    with pytest.raises(RPCError, match="cannot reach the Tidal frontend") as info:
        await Client.connect(_dead_address(), rpc_retry_seconds=0.2)
    assert info.value.status == "unavailable"


async def test_payloads_over_the_warning_size_are_logged_and_still_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bodies: list[dict[str, Any]] = []
    client = _recording_client(bodies, DataConverter.default)
    limited = Client(**{**client.config(), "payload_limits": PayloadLimitsConfig(payloads_warn_size=100)})
    handle = limited.get_workflow_handle("w")
    with caplog.at_level(logging.WARNING, logger="tidal.client"):
        await handle.signal("small", "x" * 10)
        assert not caplog.records
        await handle.signal("big", "x" * 200)
    assert len(bodies) == 2  # a warning, not a refusal
    [record] = caplog.records
    assert "input is 2" in record.getMessage() and "warning size 100" in record.getMessage()
    with caplog.at_level(logging.WARNING, logger="tidal.client"):
        caplog.clear()
        off = Client(**{**client.config(), "payload_limits": PayloadLimitsConfig(payloads_warn_size=0)})
        await off.get_workflow_handle("w").signal("big", "x" * 200)
    assert not caplog.records


async def test_memo_over_its_warning_size_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    client = _recording_client([], DataConverter.default)
    with caplog.at_level(logging.WARNING, logger="tidal.client"):
        await client.start_workflow("Wf", id="w", task_queue="q", memo={"note": "y" * 3000})
    assert any("memo is" in r.getMessage() for r in caplog.records)


async def test_schedule_action_from_raw_info_keeps_its_payloads() -> None:
    """An action read back as the API's JSON (`raw_info=`) goes out again with the same payloads,
    not converted a second time: a client without the codec can copy an encrypted action."""
    tagged = DataConverter(payload_codec=_TagCodec("k1"))
    original = ScheduleActionStartWorkflow(
        "Report", "secret", id="report", task_queue="q", memo={"owner": "ops"}, static_summary="nightly"
    )
    wire = await original.to_wire(tagged)
    raw = ScheduleActionStartWorkflow("ignored", id="ignored", task_queue="ignored", raw_info=wire)
    assert (raw.workflow, raw.id, raw.task_queue, raw.static_summary) == ("Report", "report", "q", "nightly")
    assert [p.metadata["tag"] for p in raw.args] == ["k1"]
    again = await raw.to_wire(DataConverter.default)
    assert again["input"] == wire["input"] and again["memo"] == wire["memo"]
