"""Data converter, RetryPolicy and failure conversion."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pydantic
import pytest
import tidal_schema
from tidal.common import RetryPolicy
from tidal.converter import DataConverter, PayloadConversionError
from tidal.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutError,
    error_to_failure,
    failure_to_error,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Line:
    sku: str
    qty: int


@dataclass
class Order:
    id: str
    lines: list[Line]
    placed: datetime
    color: Color


class Customer(pydantic.BaseModel):
    name: str
    since: datetime
    tags: set[str] = set()


conv = DataConverter.default


def test_dataclass_round_trip_with_nested_datetime_and_enum() -> None:
    order = Order("o1", [Line("a", 2)], datetime(2024, 1, 2, 3, 4, tzinfo=UTC), Color.BLUE)
    p = conv.to_payload(order)
    assert p.metadata == {"encoding": "json/plain"}
    assert p.data == {
        "id": "o1",
        "lines": [{"sku": "a", "qty": 2}],
        "placed": "2024-01-02T03:04:00Z",
        "color": "blue",
    }
    assert conv.from_payload(p, Order) == order
    # Without a type hint, the plain JSON value.
    assert conv.from_payload(p) == p.data


def test_pydantic_model_and_containers_round_trip() -> None:
    c = Customer(name="ann", since=datetime(2020, 1, 1, tzinfo=UTC), tags={"vip"})
    payloads = conv.to_payloads([c, [c], {"k": c}, None, 3])
    assert len(payloads) == 5
    back = conv.from_payloads(payloads, [Customer, list[Customer], dict[str, Customer], None])
    assert back == [c, [c], {"k": c}, None, 3]
    # The payload survives a trip through the schema's own JSON.
    wire = tidal_schema.Payload.model_validate_json(payloads[0].model_dump_json())
    assert conv.from_payload(wire, Customer) == c


def test_bad_payloads_raise_clear_errors() -> None:
    with pytest.raises(PayloadConversionError, match="cannot decode"):
        conv.from_payload(conv.to_payload({"x": 1}), Order)
    with pytest.raises(PayloadConversionError, match="unsupported payload encoding"):
        conv.from_payload(tidal_schema.Payload(metadata={"encoding": "binary/protobuf"}, data="AA=="), str)
    with pytest.raises(PayloadConversionError, match="cannot encode"):
        conv.to_payload(object())


def test_retry_policy_schema_round_trip() -> None:
    rp = RetryPolicy(
        maximum_attempts=3, non_retryable_error_types=["Bad"], maximum_interval=timedelta(minutes=1)
    )
    s = rp.to_schema()
    assert s.non_retryable_error_types == ("Bad",) and s.maximum_attempts == 3
    assert RetryPolicy.from_schema(s) == rp
    assert RetryPolicy.from_schema(RetryPolicy().to_schema()) == RetryPolicy()


def test_failure_round_trip_rebuilds_classes_and_causes() -> None:
    try:
        try:
            raise TimeoutError("slow", type=tidal_schema.TimeoutType.HEARTBEAT)
        except TimeoutError as inner:
            raise ActivityError(activity_type="charge", activity_id="1", scheduled_event_id=5) from inner
    except ActivityError as e:
        f = error_to_failure(e)
    assert f.kind == "activity" and f.cause is not None and f.cause.kind == "timeout"
    assert "raise ActivityError" in f.stack_trace
    err = failure_to_error(f)
    assert isinstance(err, ActivityError) and err.failure == f
    assert (err.activity_type, err.activity_id, err.scheduled_event_id) == ("charge", "1", 5)
    assert (
        isinstance(err.__cause__, TimeoutError) and err.__cause__.type == tidal_schema.TimeoutType.HEARTBEAT
    )

    app = failure_to_error(error_to_failure(ApplicationError("no", 1, "two", type="T", non_retryable=True)))
    assert isinstance(app, ApplicationError)
    assert (app.message, list(app.details), app.type, app.non_retryable) == ("no", [1, "two"], "T", True)
    assert isinstance(failure_to_error(error_to_failure(CancelledError())), CancelledError)
    plain = failure_to_error(error_to_failure(ValueError("bad value")))
    assert isinstance(plain, ApplicationError) and plain.type == "ValueError" and plain.message == "bad value"
