"""Generated malformed messages (hypothesis) for the command exchange and every internal queue.

Each target has valid template messages; a generated message is a template broken in one of many
ways (garbage bytes, JSON that is not an object, an unknown type, a missing or mistyped field, NUL
or a lone surrogate in a string, nesting far too deep, a negative or huge duration, ...). Every
message is checked locally with the same validation the consumer runs, and one that happens to be
valid is not sent: so every message sent must come back as a dead letter with a reason (and, on
the command exchange, a `CommandRejected` reply), which is what the suite counts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from tidal_schema import names
from tidal_schema.client_commands import CLIENT_COMMAND
from tidal_schema.limits import MAX_DOCUMENT_DEPTH, document_depth_exceeds
from tidal_schema.messages import HISTORY_MESSAGE, MATCHING_MESSAGE, TASK_MESSAGE, TIMER_MESSAGE

from tests.hostile.workflows import TASK_QUEUE

NOW = "2026-01-01T00:00:00Z"
_REF = {"namespace": "default", "workflow_id": "fuzz-wf", "run_id": "fuzz-run"}
_EVENT = {
    "event_id": 1,
    "event_time": NOW,
    "attributes": {"type": "WorkflowTaskScheduled", "task_queue": "q"},
}
_WFT = {
    "type": "WorkflowTask",
    **_REF,
    "workflow_type": "HostileWorkflow",
    "task_queue": TASK_QUEUE,
    "scheduled_event_id": 1,
    "history_length": 1,
    "events": [_EVENT],
    "history_routing_key": "shard.0",
}
_ACT = {
    "type": "ActivityTask",
    **_REF,
    "workflow_type": "HostileWorkflow",
    "activity_id": "1",
    "activity_type": "a",
    "task_queue": TASK_QUEUE,
    "scheduled_event_id": 5,
    "scheduled_time": NOW,
    "current_attempt_scheduled_time": NOW,
    "history_routing_key": "shard.0",
}
_FIRE = {"type": "FireTimer", **_REF, "kind": "user_timer", "key": "k", "timer_id": "1"}

HISTORY_TEMPLATES: list[dict[str, Any]] = [
    {
        "type": "StartWorkflowExecution",
        "workflow_id": "fuzz-wf",
        "workflow_type": "T",
        "task_queue": "q",
        "request_id": "r",
        "input": [{"data": 1}],
    },
    {"type": "SignalWorkflowExecution", "workflow_id": "fuzz-wf", "signal_name": "s", "request_id": "r"},
    {
        "type": "CompleteWorkflowTask",
        **_REF,
        "scheduled_event_id": 2,
        "commands": [{"type": "StartTimer", "timer_id": "1", "start_to_fire_timeout": 1.0}],
    },
    {
        "type": "CompleteActivityTask",
        **_REF,
        "scheduled_event_id": 5,
        "attempt": 1,
        "result": [{"data": "x"}],
    },
    {"type": "FailActivityTask", **_REF, "scheduled_event_id": 5, "attempt": 1, "failure": {"message": "m"}},
    _FIRE,
    {"type": "TerminateWorkflowExecution", "workflow_id": "fuzz-wf", "reason": "r"},
]
MATCHING_TEMPLATES: list[dict[str, Any]] = [
    {"type": "AddWorkflowTask", "task": _WFT},
    {"type": "AddActivityTask", "task": _ACT},
]
TIMER_TEMPLATES: list[dict[str, Any]] = [
    {"type": "ScheduleTimer", "shard_id": 0, "key": "k", "fire_at": NOW, "fire": _FIRE},
    {"type": "CancelTimer", "shard_id": 0, "key": "k"},
]
TASK_TEMPLATES: list[dict[str, Any]] = [_WFT]
COMMAND_TEMPLATES: list[tuple[str, dict[str, Any]]] = [
    ("start", {"workflow_id": "fuzz-wf", "workflow_type": "T", "task_queue": "q", "args": [1]}),
    ("signal", {"workflow_id": "fuzz-wf", "signal_name": "s", "args": ["a"]}),
    (
        "signal-with-start",
        {"workflow_id": "w", "workflow_type": "T", "task_queue": "q", "signal_name": "s"},
    ),
    ("cancel", {"workflow_id": "fuzz-wf", "reason": "r"}),
    ("terminate", {"workflow_id": "fuzz-wf", "reason": "r"}),
]


@dataclass(frozen=True)
class Target:
    """Where a family of messages goes, and the check its consumer runs first."""

    name: str
    exchange: str
    routing_keys: tuple[str, ...]
    valid: Callable[[str, bytes], bool]


def _adapter_accepts(adapter: TypeAdapter[Any]) -> Callable[[str, bytes], bool]:
    def valid(_key: str, body: bytes) -> bool:
        try:
            adapter.validate_json(body)
        except ValidationError:
            return False
        return True

    return valid


def _command_accepted(key: str, body: bytes) -> bool:
    """What the frontend's command parser would accept (see tidal_frontend.commands)."""
    if document_depth_exceeds(body, MAX_DOCUMENT_DEPTH):
        return False
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    if not isinstance(raw, dict):
        return False
    raw.setdefault("type", key)
    if raw["type"] != key:
        return False
    try:
        CLIENT_COMMAND.validate_python(raw)
    except ValidationError:
        return False
    return True


def targets(shard_count: int) -> dict[str, Target]:
    shards = tuple(names.shard_routing_key(s) for s in range(shard_count))
    return {
        "commands": Target("commands", names.COMMANDS_EXCHANGE, ("start",), _command_accepted),
        "history": Target("history", names.HISTORY_EXCHANGE, shards, _adapter_accepts(HISTORY_MESSAGE)),
        "matching": Target(
            "matching",
            names.MATCHING_EXCHANGE,
            (names.MATCHING_ROUTING_KEY,),
            _adapter_accepts(MATCHING_MESSAGE),
        ),
        "timer": Target("timer", names.TIMER_EXCHANGE, shards, _adapter_accepts(TIMER_MESSAGE)),
        # Straight into the task queue a worker of this test consumes (default exchange).
        "task-queue": Target(
            "task-queue",
            "",
            (names.workflow_task_queue("default", TASK_QUEUE),),
            _adapter_accepts(TASK_MESSAGE),
        ),
    }


# --- the ways a message is broken ------------------------------------------------------------

MUTATIONS = (
    "garbage",
    "not-an-object",
    "unknown-type",
    "drop-field",
    "retype-field",
    "hostile-string",
    "deep",
    "very-deep",
    "negative-duration",
    "huge-duration",
    "extra-field",
    "truncated",
)
_HOSTILE = ("\x00", "a\x00b", "\ud800", "x\udfff", "\x00\x00\x00", "\udbff\udc00\ud800", "ok\x00\ud800")
_TEXT = 'ab\x00\ud800é€ "\\/{}[]:,'


def _text(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choice(_TEXT) for _ in range(rng.randint(0, size)))


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 7 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**70), 2**70)
    if kind == 3:
        return rng.uniform(-1e308, 1e308)
    if kind in (4, 5):
        return _text(rng)
    if kind == 6:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng, 6): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        out.append((*prefix, k))
        out.extend(_paths(v, (*prefix, k)))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _copy(doc: Any) -> Any:
    return json.loads(json.dumps(doc))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = _copy(doc)
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    doc = _copy(doc)
    del _get(doc, path[:-1])[path[-1]]
    return doc


def _dump(doc: Any) -> bytes:
    # ensure_ascii: NUL and lone surrogates travel as \u escapes, as any JSON client writes them.
    return json.dumps(doc, ensure_ascii=True).encode()


def mutate(rng: random.Random, templates: list[dict[str, Any]]) -> tuple[str, bytes]:
    """One template broken one way: (the mutation's name, the body)."""
    template = rng.choice(templates)
    paths = _paths(template)
    how = rng.choice(MUTATIONS)
    if how == "garbage":
        return how, rng.randbytes(rng.randint(0, 300))
    if how == "not-an-object":
        return how, _dump(rng.choice([[], 1, "x", None, True, [template]]))
    if how == "unknown-type":
        return how, _dump({**template, "type": _text(rng, 30)})
    if how == "drop-field":
        return how, _dump(_delete(template, rng.choice(paths)))
    if how == "retype-field":
        return how, _dump(_set(template, rng.choice(paths), _json_value(rng)))
    if how == "hostile-string":
        strings = [p for p in paths if isinstance(_get(template, p), str)]
        return how, _dump(_set(template, rng.choice(strings), rng.choice(_HOSTILE)))
    if how in ("deep", "very-deep"):
        depth = rng.randint(65, 400) if how == "deep" else rng.randint(400, 50_000)
        deep = f"{'[' * depth}1{']' * depth}"
        text = _dump(template).decode()
        # Into payload data or arguments where the template has them (the depth rule), else an
        # extra field (the parser's own limit).
        for slot in ('"data": 1', '"args": [1]'):
            if slot in text:
                return how, text.replace(slot, slot.replace("1", deep), 1).encode()
        at = text.rfind("}")
        return how, f'{text[:at]}, "zz": {deep}{text[at:]}'.encode()
    if how in ("negative-duration", "huge-duration"):
        value = rng.uniform(-1e12, -0.001) if how == "negative-duration" else 10 ** rng.uniform(9.6, 300)
        if "commands" in template:
            return how, _dump(_set(template, ("commands", 0, "start_to_fire_timeout"), value))
        return how, _dump({**template, "workflow_run_timeout": value})
    if how == "extra-field":
        return how, _dump({**template, _text(rng, 10) + "_x": _json_value(rng)})
    text = _dump(template)
    return how, text[: rng.randint(0, len(text) - 1)]


def generate(
    target: Target, templates: list[dict[str, Any]], count: int, seed: int, *, hypothesis_share: float = 0.1
) -> list[tuple[str, bytes]]:
    """`count` malformed (routing key, body) pairs for `target`, none of which its consumer
    accepts. A share comes from hypothesis (its randoms explore the mutations' choices; slow, about
    20 per second here), the rest from a seeded random.Random over the same mutations (fast)."""
    out: list[tuple[str, bytes]] = []
    wanted = max(1, int(count * hypothesis_share))

    @hypothesis.seed(seed)
    @given(rng=st.randoms(use_true_random=False), key=st.sampled_from(target.routing_keys))
    @settings(
        max_examples=wanted * 2,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    def collect(rng: random.Random, key: str) -> None:
        _how, body = mutate(rng, templates)
        if len(out) < wanted and not target.valid(key, body):
            out.append((key, body))

    collect()
    rng = random.Random(seed)
    while len(out) < count:
        _how, body = mutate(rng, templates)
        key = rng.choice(target.routing_keys)
        if not target.valid(key, body):
            out.append((key, body))
    return out


def generate_commands(count: int, seed: int) -> list[tuple[str, bytes]]:
    """Commands get their routing key from the template (its `type` defaults to it)."""
    per_key: dict[str, list[dict[str, Any]]] = {}
    for key, body in COMMAND_TEMPLATES:
        per_key.setdefault(key, []).append(body)
    out: list[tuple[str, bytes]] = []
    share = count // len(per_key) + 1
    for key, templates in per_key.items():
        target = Target("commands", names.COMMANDS_EXCHANGE, (key,), _command_accepted)
        out.extend(generate(target, templates, share, seed))
    return out[:count]
