"""The edge limits (tidal_schema.limits) as the messages apply them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError
from tidal_schema import Payload, RetryPolicy, names
from tidal_schema.client_commands import CLIENT_COMMAND
from tidal_schema.commands import StartTimer
from tidal_schema.limits import (
    MAX_DOCUMENT_DEPTH,
    MAX_JSON_DEPTH,
    MAX_TASK_QUEUE_QUEUE_BYTES,
    check_json_value,
    document_depth_exceeds,
    store_safe_text,
)
from tidal_schema.messages import HISTORY_MESSAGE, SignalWorkflowExecution


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x\udfff"])
def test_ids_names_and_reasons_refuse_what_the_store_cannot_keep(bad: str) -> None:
    for fields in ({"workflow_id": bad}, {"signal_name": bad}, {"request_id": bad}, {"identity": bad}):
        base = {"workflow_id": "w", "signal_name": "s", "request_id": "r"}
        with pytest.raises(ValidationError):
            SignalWorkflowExecution(**(base | fields))


def test_a_nul_escape_on_the_wire_is_refused_by_the_parser_history_runs() -> None:
    body = json.dumps(
        {"type": "SignalWorkflowExecution", "workflow_id": "nul\x00id", "signal_name": "s", "request_id": "r"}
    )
    assert "\\u0000" in body
    with pytest.raises(ValidationError, match="pattern"):
        HISTORY_MESSAGE.validate_json(body)


def test_payload_data_depth_strings_numbers_and_size() -> None:
    Payload(data=_nested(MAX_JSON_DEPTH))
    with pytest.raises(ValidationError, match="deeper than 64"):
        Payload(data=_nested(MAX_JSON_DEPTH + 1))
    for bad in ({"k\x00": 1}, ["\ud800"], [float("nan")], "x" * (3 << 20)):
        with pytest.raises(ValidationError):
            Payload(data=bad)
    # Checked without recursion: a value far deeper than Python's recursion limit is just refused.
    with pytest.raises(ValueError, match="deeper"):
        check_json_value(_nested(100_000))


def test_document_depth_is_decided_on_the_bytes() -> None:
    assert not document_depth_exceeds(json.dumps(_nested(MAX_DOCUMENT_DEPTH)).encode())
    assert document_depth_exceeds(json.dumps(_nested(MAX_DOCUMENT_DEPTH + 1)).encode())
    assert document_depth_exceeds(b"[" * 1_000_000)
    # Brackets inside strings (escaped quotes included) do not count.
    assert not document_depth_exceeds(json.dumps({"s": "[" * 500 + '\\"' + "{" * 500}).encode())
    assert not document_depth_exceeds(b"not json at all [[[")


def test_durations_and_the_retry_policy_are_validated_like_temporal() -> None:
    with pytest.raises(ValidationError):
        StartTimer(timer_id="1", start_to_fire_timeout=timedelta(days=10_000_000))
    with pytest.raises(ValidationError):
        StartTimer(timer_id="1", start_to_fire_timeout=timedelta(seconds=-1))
    for bad in (
        {"initial_interval": -1},
        {"initial_interval": 0},
        {"initial_interval": 10, "maximum_interval": 1},
        {"backoff_coefficient": 0.5},
        {"maximum_attempts": -1},
        {"initial_interval": 1e300},
    ):
        with pytest.raises(ValidationError):
            RetryPolicy.model_validate(bad)
    assert RetryPolicy.model_validate({"initial_interval": 0.1}).initial_interval == timedelta(seconds=0.1)


def test_task_queue_names_fit_rabbitmq_after_escaping() -> None:
    ok = "q" * MAX_TASK_QUEUE_QUEUE_BYTES
    start = {"workflow_id": "w", "workflow_type": "T", "task_queue": ok}
    CLIENT_COMMAND.validate_python({"type": "start", **start})
    assert len(names.activity_task_queue("n" * 100, ok).encode()) <= 255
    for bad in ("q" * (MAX_TASK_QUEUE_QUEUE_BYTES + 1), "é" * 40, "." * 40):
        with pytest.raises(ValidationError, match="task_queue"):
            CLIENT_COMMAND.validate_python({"type": "start", **start, "task_queue": bad})


def test_program_text_is_made_safe_rather_than_refused() -> None:
    assert store_safe_text("a\x00b\ud800") == "a\ufffdb\ufffd"
