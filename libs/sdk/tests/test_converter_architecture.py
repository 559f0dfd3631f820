"""temporalio.converter's architecture in Tidal (issue 11): composite and encoding payload
converters, typed JSON decoding with custom type converters, failure converters with encoded
attributes, codec helpers, serialization contexts and transfer types."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from tidal.common import RawValue
from tidal.converter import (
    ActivitySerializationContext,
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    PayloadCodec,
    PayloadConversionError,
    PayloadConverter,
    SerializationContext,
    TransferTypeConverter,
    WithSerializationContext,
    WorkflowSerializationContext,
    create_payload_validation_error,
    transfer_type_convertible,
    value_to_type,
)
from tidal.exceptions import ActivityError, ApplicationError
from tidal_schema import Failure, Payload

from tests.support.money import Money, MoneyEncoding


def test_default_converter_encodings_as_temporalio() -> None:
    pc = DefaultPayloadConverter()
    none, raw, value = pc.to_payloads([None, b"\x00\xffbytes", {"a": [1, 2]}])
    assert none.metadata == {"encoding": "binary/null"} and none.data is None
    assert raw.metadata == {"encoding": "binary/plain"}
    assert base64.b64decode(str(raw.data)) == b"\x00\xffbytes"
    assert value.metadata == {"encoding": "json/plain"} and value.data == {"a": [1, 2]}
    assert pc.from_payloads([none, raw, value]) == [None, b"\x00\xffbytes", {"a": [1, 2]}]
    # A json/plain null (what older Tidal and the HTTP API send) still decodes.
    assert pc.from_payload(Payload(data=None)) is None
    assert isinstance(PayloadConverter.default, DefaultPayloadConverter)
    assert list(pc.converters) == ["binary/null", "binary/plain", "json/plain"]


def test_raw_values_pass_through_and_unknown_encodings_are_refused() -> None:
    pc = DefaultPayloadConverter()
    p = Payload(metadata={"encoding": "text/x-mine"}, data="x")
    assert pc.to_payloads([RawValue(p)]) == [p]
    assert pc.from_payloads([p], [RawValue]) == [RawValue(p)]
    with pytest.raises(PayloadConversionError, match="unsupported payload encoding 'text/x-mine'"):
        pc.from_payload(p)
    with pytest.raises(PayloadConversionError, match="binary/plain payload is not base64"):
        pc.from_payload(Payload(metadata={"encoding": "binary/plain"}, data="%%%"))
    with pytest.raises(PayloadConversionError, match="binary/null payload with data"):
        pc.from_payload(Payload(metadata={"encoding": "binary/null"}, data=1))


class MoneyConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(MoneyEncoding(), *DefaultPayloadConverter.default_encoding_payload_converters)


def test_a_custom_encoding_converter_in_a_data_converter() -> None:
    conv = DataConverter(payload_converter_class=MoneyConverter)
    [p, q] = conv.to_payloads([Money(150, "EUR"), "plain"])
    assert p == Payload(metadata={"encoding": "money/v1"}, data="150 EUR")
    assert q.metadata == {"encoding": "json/plain"}
    assert conv.from_payloads([p, q], [Money, str]) == [Money(150, "EUR"), "plain"]
    # Temporalio's converters raise on bad input inside the converter: reported with the index.
    with pytest.raises(PayloadConversionError, match="index 0 with encoding 'money/v1'"):
        conv.from_payload(Payload(metadata={"encoding": "money/v1"}, data="nonsense"))


class UpperBox:
    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UpperBox) and other.text == self.text


class UpperBoxConverter(JSONTypeConverter):
    def to_typed_value(self, hint: Any, value: Any) -> Any:
        if hint is UpperBox:
            return UpperBox(str(value).upper())
        return JSONTypeConverter.Unhandled


@dataclass
class Holder:
    boxes: list[UpperBox]
    by_name: dict[str, UpperBox | None]
    when: datetime


def test_custom_type_converters_apply_inside_containers_and_dataclasses() -> None:
    custom = [UpperBoxConverter()]
    raw = {"boxes": ["a", "b"], "by_name": {"x": "c", "y": None}, "when": "2026-01-02T03:04:05Z"}
    held = value_to_type(Holder, raw, custom)
    assert held == Holder(
        [UpperBox("A"), UpperBox("B")],
        {"x": UpperBox("C"), "y": None},
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    jp = JSONPlainPayloadConverter(custom_type_converters=custom)
    assert jp.from_payload(Payload(data=["q"]), list[UpperBox]) == [UpperBox("Q")]
    with pytest.raises(PayloadConversionError, match="cannot decode payload as <class 'int'>"):
        value_to_type(int, "not a number")


def test_stdlib_encoder_and_decoder_can_replace_pydantic() -> None:
    @dataclass
    class Point:
        x: int
        when: datetime

    class Decoder(json.JSONDecoder):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(object_hook=lambda d: {k.upper(): v for k, v in d.items()}, **kwargs)

    jp = JSONPlainPayloadConverter(encoder=AdvancedJSONEncoder, decoder=Decoder, encoding="json/custom")
    p = jp.to_payload(Point(1, datetime(2026, 1, 1, tzinfo=UTC)))
    assert p is not None and p.metadata == {"encoding": "json/custom"}
    assert p.data == {"x": 1, "when": "2026-01-01T00:00:00+00:00"}
    assert jp.from_payload(p) == {"X": 1, "WHEN": "2026-01-01T00:00:00+00:00"}
    with pytest.raises(PayloadConversionError, match="cannot encode object"):
        jp.to_payload(object())


def test_encoded_attributes_hide_message_and_stack_until_decoded() -> None:
    conv = DataConverter(failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
    try:
        try:
            raise ApplicationError("card 4111 declined", "detail", type="Declined")
        except ApplicationError as inner:
            raise ActivityError("Activity task failed", activity_type="charge") from inner
    except ActivityError as exc:
        failure = conv.failure_converter.to_failure(exc, conv.payload_converter)
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert failure.cause is not None and failure.cause.message == "Encoded failure"
    assert "4111" not in failure.model_dump_json(
        exclude={"cause": {"encoded_attributes"}, "encoded_attributes": True}
    )
    assert failure.cause.encoded_attributes is not None
    assert failure.cause.encoded_attributes.data["message"] == "card 4111 declined"
    assert "raise ApplicationError" in failure.cause.encoded_attributes.data["stack_trace"]
    err = conv.failure_converter.from_failure(failure, conv.payload_converter)
    assert isinstance(err, ActivityError) and err.message == "Activity task failed"
    assert isinstance(err.cause, ApplicationError) and err.cause.message == "card 4111 declined"
    assert err.cause.type == "Declined" and err.cause.details == ("detail",)
    assert "raise ApplicationError" in err.cause.failure.stack_trace  # type: ignore[union-attr]
    # The default converter leaves them in the clear.
    plain = DefaultFailureConverter().to_failure(ApplicationError("m"), conv.payload_converter)
    assert plain.message == "m" and plain.encoded_attributes is None


class ReversingCodec(PayloadCodec):
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": "reversed"}, data=json.dumps(p.model_dump())[::-1])
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.model_validate(json.loads(str(p.data)[::-1]))
            if p.metadata.get("encoding") == "reversed"
            else p
            for p in payloads
        ]


async def test_data_converter_encode_failure_encodes_attributes_with_the_codec() -> None:
    conv = DataConverter(
        payload_codec=ReversingCodec(), failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )
    failure = await conv.encode_failure(ApplicationError("secret text", "more secret"))
    assert "secret" not in failure.model_dump_json()
    err = await conv.decode_failure(failure)
    assert (
        isinstance(err, ApplicationError) and err.message == "secret text" and err.details == ("more secret",)
    )
    # What leaves the SDK in any message gets the same treatment (encode_model), so failures the
    # workflow runtime converts itself are encoded too.
    leaving = await conv.encode_model(Failure(message="secret again", stack_trace="at secret"))
    assert leaving.message == "Encoded failure" and "secret" not in leaving.model_dump_json()
    assert (await conv.decode_model(leaving)).encoded_attributes.data["message"] == "secret again"  # type: ignore[union-attr]
    # The codec's own helpers.
    codec = ReversingCodec()
    assert await codec.decode_wrapper(await codec.encode_wrapper([Payload(data=1)])) == [Payload(data=1)]
    assert await codec.decode_failure(await codec.encode_failure(leaving)) == leaving


@dataclass(frozen=True)
class ContextRecorder(EncodingPayloadConverter, WithSerializationContext):
    context: SerializationContext | None = None

    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        return Payload(data={"value": value, "context": repr(self.context)})

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return payload.data

    def with_context(self, context: SerializationContext) -> ContextRecorder:
        return ContextRecorder(context)


class ContextConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(ContextRecorder())


def test_serialization_context_reaches_context_aware_converters_only() -> None:
    assert (
        DataConverter.default.with_context(WorkflowSerializationContext("ns", "wf")) is DataConverter.default
    )
    conv = DataConverter(payload_converter_class=ContextConverter)
    ctx = ActivitySerializationContext(
        namespace="ns",
        activity_id="1",
        activity_type="charge",
        activity_task_queue="tq",
        workflow_id="wf",
        workflow_type="Order",
        is_local=False,
    )
    with_ctx = conv.with_context(ctx)
    assert with_ctx is not conv and with_ctx.payload_codec is conv.payload_codec
    assert with_ctx.to_payload(1).data == {"value": 1, "context": repr(ctx)}
    assert conv.to_payload(1).data == {"value": 1, "context": "None"}


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees


class CelsiusTransfer(TransferTypeConverter[Celsius, str]):
    transfer_type = str

    def to_transfer_type(self, value: Celsius) -> str:
        return f"{value.degrees}C"

    def from_transfer_type(self, value: str, type_hint: type[Celsius]) -> Celsius:
        return type_hint(float(value.removesuffix("C")))


transfer_type_convertible(CelsiusTransfer)(Celsius)


def test_transfer_types_and_validation_errors() -> None:
    conv = DataConverter()
    [p] = conv.to_payloads([Celsius(21.5)])
    assert p.data == "21.5C"
    [back] = conv.from_payloads([p], [Celsius])
    assert isinstance(back, Celsius) and back.degrees == 21.5
    with pytest.raises(TypeError, match="already has a transfer type converter"):
        transfer_type_convertible(CelsiusTransfer)(Celsius)
    err = create_payload_validation_error({"field": "amount"})
    assert (
        err.type == "PayloadValidationError" and err.non_retryable and err.details == ({"field": "amount"},)
    )
    assert create_payload_validation_error(None).details == ()


def test_binary_converters_are_usable_alone() -> None:
    assert BinaryNullPayloadConverter().to_payload(0) is None
    assert BinaryPlainPayloadConverter().to_payload("text") is None


def test_search_attribute_helpers_on_the_json_wire_form() -> None:
    from tidal.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
    from tidal.converter import (
        decode_search_attributes,
        decode_typed_search_attributes,
        encode_search_attribute_values,
        encode_search_attributes,
        encode_typed_search_attribute_value,
    )

    when = datetime(2026, 1, 2, tzinfo=UTC)
    customer, tags, at = (
        SearchAttributeKey.for_keyword("Customer"),
        SearchAttributeKey.for_keyword_list("Tags"),
        SearchAttributeKey.for_datetime("At"),
    )
    api: dict[str, Any] = {}
    encode_search_attributes(
        TypedSearchAttributes(
            [
                SearchAttributePair(customer, "c1"),
                SearchAttributePair(tags, ["a", "b"]),
                SearchAttributePair(at, when),
            ]
        ),
        api,
    )
    assert api == {"Customer": "c1", "Tags": ["a", "b"], "At": "2026-01-02T00:00:00+00:00"}
    typed = decode_typed_search_attributes(api)
    assert typed[customer] == "c1" and typed[tags] == ["a", "b"] and typed[at] == when
    assert decode_search_attributes(api) == {"Customer": ["c1"], "Tags": ["a", "b"], "At": [when]}
    encode_search_attributes({"Count": [3], "Names": ["x", "y"]}, api)
    assert api["Count"] == 3 and api["Names"] == ["x", "y"]
    with pytest.raises(TypeError, match="not suitable"):
        encode_typed_search_attribute_value(SearchAttributeKey.for_int("N"), "three")
    with pytest.raises(ValueError, match="timezone"):
        encode_typed_search_attribute_value(at, datetime(2026, 1, 2))
    with pytest.raises(TypeError, match="same type"):
        encode_search_attribute_values([1, "a"])
    assert encode_typed_search_attribute_value(customer, None) is None


def test_exceptions_as_temporalio() -> None:
    from tidal.exceptions import (
        ApplicationErrorCategory,
        FailureError,
        TemporalError,
        TidalError,
        error_to_failure,
        failure_to_error,
    )

    assert TemporalError is TidalError
    benign = ApplicationError("expected", category=ApplicationErrorCategory.BENIGN)
    failure = error_to_failure(benign)
    assert failure.category == 1
    back = failure_to_error(failure)
    assert isinstance(back, ApplicationError) and back.category is ApplicationErrorCategory.BENIGN
    assert (
        failure_to_error(failure.model_copy(update={"category": 7})).category
        is ApplicationErrorCategory.UNSPECIFIED
    )  # type: ignore[attr-defined]
    err = FailureError("shown", failure=failure, exc_args=("a", 1))
    assert err.message == "shown" and err.args == ("a", 1) and err.failure is failure
    assert FailureError("m").args == ("m",) and FailureError("m").failure is None
