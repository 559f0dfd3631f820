"""The limits every edge enforces, and the pydantic field types that enforce them.

One module so that the HTTP API, the AMQP command exchange, history (worker completions) and the
SDK apply the same rules: a value the store or the broker cannot keep is refused where it enters,
with a clear error, instead of failing later inside history on every retry.

- **Strings the store can keep**: Postgres text and jsonb cannot hold NUL (`\\u0000`), and a lone
  surrogate cannot be encoded as UTF-8 at all. Ids, names, reasons, search attributes and JSON
  payload data refuse both.
- **Nesting depth**: JSON values (payload data, memo, search attributes) nest at most
  `MAX_JSON_DEPTH` levels; whole documents (request bodies, commands) at most `MAX_DOCUMENT_DEPTH`,
  checked on the raw bytes before any recursive parser runs. Every internal hop then stays far
  below pydantic's own parser limit (about 200), whatever envelope wraps the value.
- **Durations** are non-negative and at most `MAX_DURATION` (100 years), so `now + duration`
  never overflows; timestamps lie in `[MIN_TIMESTAMP, MAX_TIMESTAMP]`.
- **Sizes**: one payload, one request, one command at most `MAX_PAYLOAD_BYTES` (2 MiB, as Temporal).
- **Names that become RabbitMQ queue names** fit the broker's 255 bytes after escaping: a
  namespace at most `MAX_NAMESPACE_QUEUE_BYTES`, a task queue at most `MAX_TASK_QUEUE_QUEUE_BYTES`
  (escaped; plain ASCII letters, digits, `-` and `_` count one byte each).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from . import names

__all__ = [
    "HISTORY_COUNT_ERROR",
    "HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW",
    "HISTORY_COUNT_WARN",
    "HISTORY_SIZE_ERROR",
    "HISTORY_SIZE_SUGGEST_CONTINUE_AS_NEW",
    "HISTORY_SIZE_WARN",
    "MAX_AMQP_NAME_BYTES",
    "MAX_DOCUMENT_DEPTH",
    "MAX_DURATION",
    "MAX_DURATION_SECONDS",
    "MAX_ID_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_MEMO_BYTES",
    "MAX_NAMESPACE_QUEUE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_REQUEST_ID_LENGTH",
    "MAX_TASK_QUEUE_QUEUE_BYTES",
    "MAX_TEXT_LENGTH",
    "MAX_TIMESTAMP",
    "MESSAGE_MAX_BYTES",
    "MIN_TIMESTAMP",
    "NOTIFY_OUTCOME_MAX_BYTES",
    "STORE_SAFE_PATTERN",
    "TASK_HISTORY_MAX_BYTES",
    "TASK_HISTORY_MAX_EVENTS",
    "Duration",
    "Id",
    "JsonValue",
    "LimitError",
    "Name",
    "NamespaceName",
    "OptionalId",
    "PositiveDuration",
    "RequestId",
    "SafeText",
    "Seconds",
    "TaskQueueName",
    "Text",
    "Timestamp",
    "check_duration",
    "check_json_value",
    "check_namespace_name",
    "check_store_safe",
    "check_task_queue_name",
    "check_timestamp",
    "document_depth_exceeds",
    "store_safe_text",
]

MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""Payloads of one request, command or completion result (Temporal's blob size limit)."""

MAX_MEMO_BYTES = MAX_PAYLOAD_BYTES
"""A run's whole memo (keys and payloads), as `workflow.upsert_memo` leaves it: each upsert is
within the blob size limit on its own, so without this the memo column grew with every upsert
(Temporal's `limit.memoSize.error`, 2 MiB)."""

HISTORY_COUNT_WARN = 10_240
HISTORY_COUNT_ERROR = 51_200
"""Events in one run: a warning past the first, the run terminated at the second (as Temporal)."""

HISTORY_SIZE_WARN = 10 * 1024 * 1024
HISTORY_SIZE_ERROR = 50 * 1024 * 1024
"""Bytes of one run's serialized events: warning, then termination."""

HISTORY_COUNT_SUGGEST_CONTINUE_AS_NEW = 4 * 1024
HISTORY_SIZE_SUGGEST_CONTINUE_AS_NEW = 4 * 1024 * 1024
"""Past either, workflow tasks tell the workflow `is_continue_as_new_suggested()`: the defaults of
Temporal's dynamic config `limit.historyCount.suggestContinueAsNew` (4,096 events) and
`limit.historySize.suggestContinueAsNew` (4 MiB)."""

MESSAGE_MAX_BYTES = 16 * 1024 * 1024
"""Largest body any Tidal process publishes on the bus: well below RabbitMQ's own
`max_message_size` (128 MiB in 3.10), which closes the channel of a publisher exceeding it."""

NOTIFY_OUTCOME_MAX_BYTES = 64 * 1024
"""Largest close notification (WorkflowClosed) that carries the run's result or failure. It is
fanned out to every frontend process, so a bigger outcome is left out and a frontend waiting for
it reads it from the database instead (docs/performance.md, "Hops and messages")."""

TASK_HISTORY_MAX_EVENTS = 1000
TASK_HISTORY_MAX_BYTES = 4 * 1024 * 1024
"""How much history one workflow task carries at most; a worker pages the older events
(`tidal_schema.sizes`)."""

MAX_JSON_DEPTH = 64
# A whole request body or command: the value's own depth plus the few levels of its envelope
# (body -> start_signal -> input -> payload -> data).
MAX_DOCUMENT_DEPTH = MAX_JSON_DEPTH + 16
MAX_ID_LENGTH = 1000
MAX_REQUEST_ID_LENGTH = 200
MAX_TEXT_LENGTH = 10_000
MAX_DURATION_SECONDS = 100 * 365 * 86400
MAX_DURATION = timedelta(seconds=MAX_DURATION_SECONDS)
MIN_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
# Far enough from datetime.max that adding MAX_DURATION to any valid timestamp cannot overflow.
MAX_TIMESTAMP = datetime(9000, 1, 1, tzinfo=UTC)
MAX_AMQP_NAME_BYTES = 255
MAX_NAMESPACE_QUEUE_BYTES = 100
# "tidal.tq.<namespace>.<task queue>.activity" must fit 255 bytes with the longest namespace.
MAX_TASK_QUEUE_QUEUE_BYTES = MAX_AMQP_NAME_BYTES - len("tidal.tq...activity") - MAX_NAMESPACE_QUEUE_BYTES

# Postgres cannot store NUL; UTF-8 cannot encode a lone surrogate. As a JSON Schema pattern it also
# documents the rule; pydantic refuses lone surrogates before the pattern even runs.
STORE_SAFE_PATTERN = r"^[^\x00]*$"
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


class LimitError(ValueError):
    """A value breaks one of the limits above (a ValueError, so pydantic reports it per field)."""


def check_store_safe(value: str, what: str = "string") -> str:
    found = _UNSAFE.search(value)
    if found is not None:
        char = found.group()
        kind = "NUL (\\u0000)" if char == "\x00" else f"a lone surrogate (\\u{ord(char):04x})"
        raise LimitError(f"{what} contains {kind} at index {found.start()}, which cannot be stored")
    return value


def store_safe_text(value: str) -> str:
    """`value` with every character the store cannot keep replaced by U+FFFD: for text a program
    produced (an exception's message, a stack trace) that must be recorded rather than refused."""
    return _UNSAFE.sub("\ufffd", value)


def check_json_value(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_PAYLOAD_BYTES
) -> Any:
    """Check a JSON value: container depth, store-safe strings (object keys too), finite numbers,
    and its encoded size. On the hot path (every payload of every message) this is one C-level
    `json.dumps` plus two regex searches; values json cannot encode take the slow walk."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise LimitError(f"the value nests deeper than {max_depth} levels") from None
    except ValueError:
        raise LimitError("the value holds NaN or Infinity, which JSON cannot carry") from None
    except TypeError:
        return _walk_json_value(value, max_depth=max_depth, max_bytes=max_bytes)
    if len(text) > max_bytes:
        raise LimitError(f"the value is larger than {max_bytes} bytes")
    if (text.count("[") + text.count("{") > max_depth) and document_depth_exceeds(
        text.encode(errors="surrogatepass"), max_depth
    ):
        raise LimitError(f"the value nests deeper than {max_depth} levels")
    # json writes NUL as the escape \u0000 (a real one: preceded by an even number of
    # backslashes) and leaves a lone surrogate as it is.
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise LimitError("a string in the value contains NUL (\\u0000), which cannot be stored")
    found = _SURROGATE.search(text)
    if found is not None:
        raise LimitError(f"a string in the value contains a lone surrogate (\\u{ord(found.group()):04x})")
    return value


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _walk_json_value(value: Any, *, max_depth: int, max_bytes: int) -> Any:
    """The same checks without json, and without recursion (an estimate of the size: strings
    count their length, every other item a few bytes)."""
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            check_store_safe(item, "a string in the value")
            size += len(item) + 2
        elif isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise LimitError(f"the value nests deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise LimitError(f"object keys must be strings, not {type(key).__name__}")
                    check_store_safe(key, "an object key in the value")
                    size += len(key) + 4
                    stack.append((child, depth + 1))
            else:
                size += 2
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise LimitError("the value holds NaN or Infinity, which JSON cannot carry")
            size += 8
        else:
            size += 8
        if size > max_bytes:
            raise LimitError(f"the value is larger than {max_bytes} bytes")
    return value


# Strings (with escapes) and brackets: the only tokens that matter for depth.
_DEPTH_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def document_depth_exceeds(body: bytes, limit: int = MAX_DOCUMENT_DEPTH) -> bool:
    """Whether the JSON text `body` nests deeper than `limit`, decided without parsing it
    (recursive parsers hit their recursion limit long before a 2 MiB body ends)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for token in _DEPTH_TOKENS.finditer(body):
        char = body[token.start()]
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def check_duration(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise LimitError(f"a duration cannot be negative ({value.total_seconds()}s)")
    if value > MAX_DURATION:
        raise LimitError(f"a duration cannot exceed {MAX_DURATION_SECONDS}s (100 years)")
    return value


def _check_positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise LimitError(f"the duration must be positive ({value.total_seconds()}s)")
    return check_duration(value)


def check_timestamp(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise LimitError("a timestamp needs a time zone")
    if not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        raise LimitError(
            f"timestamp {value.isoformat()} is outside {MIN_TIMESTAMP.year}..{MAX_TIMESTAMP.year}"
        )
    return value


def _escaped_bytes(value: str) -> int:
    return len(names.queue_name_part(value).encode())


def check_namespace_name(value: str) -> str:
    check_store_safe(value, "the namespace")
    if _escaped_bytes(value) > MAX_NAMESPACE_QUEUE_BYTES:
        raise LimitError(
            f"the namespace is {_escaped_bytes(value)} bytes as a queue name part; "
            f"the limit is {MAX_NAMESPACE_QUEUE_BYTES}"
        )
    return value


def check_task_queue_name(value: str) -> str:
    check_store_safe(value, "the task queue")
    if _escaped_bytes(value) > MAX_TASK_QUEUE_QUEUE_BYTES:
        raise LimitError(
            f"the task queue name is {_escaped_bytes(value)} bytes as a RabbitMQ queue name part "
            f"(characters other than letters, digits, '-' and '_' take 4-8 bytes); "
            f"the limit is {MAX_TASK_QUEUE_QUEUE_BYTES}"
        )
    return value


_Safe = StringConstraints(pattern=STORE_SAFE_PATTERN)

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)]
"""A workflow id, run id, activity id, timer id, update id ..."""
OptionalId = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)]
"""An id that may be empty (an empty run id means the current run)."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)]
"""A workflow type, activity type, signal, query or update name."""
RequestId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_REQUEST_ID_LENGTH, pattern=STORE_SAFE_PATTERN)
]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH, pattern=STORE_SAFE_PATTERN)]
"""A reason, identity or description: bounded, store-safe."""
SafeText = Annotated[str, _Safe]
"""Text bounded only by the payload size (failure messages, stack traces)."""
NamespaceName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(check_namespace_name)
]
TaskQueueName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TASK_QUEUE_QUEUE_BYTES),
    AfterValidator(check_task_queue_name),
]
Duration = Annotated[timedelta, AfterValidator(check_duration)]
"""0 <= duration <= 100 years."""
PositiveDuration = Annotated[timedelta, AfterValidator(_check_positive)]
Timestamp = Annotated[datetime, AfterValidator(check_timestamp)]
JsonValue = Annotated[Any, AfterValidator(check_json_value)]
"""Any JSON value the store can keep: depth, strings, size (see `check_json_value`)."""
Seconds = Annotated[float, Field(gt=0, le=MAX_DURATION_SECONDS, description="seconds")]
"""A duration in seconds, as the HTTP API and the command exchange take it."""
