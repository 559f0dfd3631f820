"""Hand-made hostile inputs (issue 9, defects 4 and 11) with the answer each must get, shared by
the embedded and the real-stack runs: every one is a clear 4xx problem body over HTTP, or a
`CommandRejected` reply plus a dead letter `<code>: <detail>` over AMQP; never a 5xx, never a
requeue, never a wedged shard."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

API = "/api/v1/namespaces/default"
TASK_QUEUE = "hostile"


def nested(depth: int, leaf: Any = 1) -> Any:
    """`depth` levels of lists around `leaf` (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_text(depth: int) -> str:
    """The same as JSON text, for depths json.dumps itself cannot write."""
    return "[" * depth + "1" + "]" * depth


def _start(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow_id": f"hostile-{uuid.uuid4()}",
        "workflow_type": "HostileWorkflow",
        "task_queue": TASK_QUEUE,
    }
    body.update(fields)
    return body


def _raw_start(args_json: str) -> bytes:
    """A start whose args are given as raw JSON text (escapes json.dumps would not write)."""
    head = json.dumps(_start())[:-1]
    return f'{head}, "args": {args_json}}}'.encode()


def _update(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "u", "update_id": f"u-{uuid.uuid4()}"}
    body.update(fields)
    return body


def _schedule(search_attributes: Any) -> dict[str, Any]:
    return {
        "schedule_id": f"hostile-{uuid.uuid4().hex[:8]}",
        "spec": {"intervals": [{"every": 60}]},
        "action": {"workflow_type": "HostileWorkflow", "workflow_id": "w", "task_queue": TASK_QUEUE},
        "search_attributes": search_attributes,
    }


@dataclass(frozen=True)
class HttpCase:
    name: str
    method: str
    path: str
    body: Any = None
    raw: bytes | None = None
    status: int = 400
    code: str = "invalid_argument"


@dataclass(frozen=True)
class CommandCase:
    name: str
    routing_key: str
    body: bytes
    code: str
    headers: dict[str, str] = field(default_factory=dict)


LONG_TQ = "q" * 300
NUL = "nul\x00id"

HTTP_CASES: tuple[HttpCase, ...] = (
    HttpCase("NUL in the workflow id", "POST", f"{API}/workflows", _start(workflow_id=NUL)),
    HttpCase("NUL in the args", "POST", f"{API}/workflows", _start(args=["a\x00b"])),
    HttpCase("NUL in an object key", "POST", f"{API}/workflows", _start(args=[{"k\x00": 1}])),
    HttpCase("NUL in a memo", "POST", f"{API}/workflows", _start(memo={"m": {"data": "\x00"}})),
    HttpCase(
        "NUL in a search attribute", "POST", f"{API}/workflows", _start(search_attributes={"a": "\x00"})
    ),
    HttpCase("NUL in the identity", "POST", f"{API}/workflows", _start(identity="me\x00")),
    HttpCase("NUL in the request id", "POST", f"{API}/workflows", _start(request_id="r\x00")),
    HttpCase("lone surrogate in the args", "POST", f"{API}/workflows", raw=_raw_start('["\\ud800"]')),
    HttpCase("lone surrogate in a key", "POST", f"{API}/workflows", raw=_raw_start('[{"\\udfff": 1}]')),
    HttpCase("args nested 65 deep", "POST", f"{API}/workflows", _start(args=[nested(65)])),
    HttpCase("args nested 200 deep", "POST", f"{API}/workflows", raw=_raw_start(f"[{nested_text(199)}]")),
    HttpCase("args nested 300 deep", "POST", f"{API}/workflows", raw=_raw_start(f"[{nested_text(299)}]")),
    HttpCase("args nested 900 deep", "POST", f"{API}/workflows", raw=_raw_start(f"[{nested_text(899)}]")),
    HttpCase("args nested 100000 deep", "POST", f"{API}/workflows", raw=_raw_start(nested_text(100_000))),
    HttpCase("NaN in the args", "POST", f"{API}/workflows", raw=_raw_start("[NaN]")),
    HttpCase("an integer of 5000 digits", "POST", f"{API}/workflows", raw=_raw_start("[" + "9" * 5000 + "]")),
    HttpCase("task queue of 300 characters", "POST", f"{API}/workflows", _start(task_queue=LONG_TQ)),
    HttpCase("task queue escaping past 255 bytes", "POST", f"{API}/workflows", _start(task_queue="é" * 40)),
    HttpCase(
        "negative retry interval", "POST", f"{API}/workflows", _start(retry_policy={"initial_interval": -1})
    ),
    HttpCase(
        "maximum interval below initial",
        "POST",
        f"{API}/workflows",
        _start(retry_policy={"initial_interval": 10, "maximum_interval": 1}),
    ),
    HttpCase(
        "retry interval of 1e300 s",
        "POST",
        f"{API}/workflows",
        _start(retry_policy={"initial_interval": 1e300}),
    ),
    HttpCase("run timeout of 1e300 s", "POST", f"{API}/workflows", _start(workflow_run_timeout=1e300)),
    HttpCase("NUL in a GET path", "GET", f"{API}/workflows/nul%00id"),
    HttpCase("NUL in a history path", "GET", f"{API}/workflows/nul%00id/history"),
    HttpCase("NUL in a query parameter", "GET", f"{API}/workflows/w/history?run_id=r%00"),
    HttpCase("NUL in a signal path", "POST", f"{API}/workflows/nul%00id/signal", {"signal_name": "s"}),
    HttpCase("NUL in a signal name", "POST", f"{API}/workflows/w/signal", {"signal_name": "s\x00"}),
    HttpCase(
        "NUL in a signal argument",
        "POST",
        f"{API}/workflows/w/signal",
        {"signal_name": "s", "args": ["\x00"]},
    ),
    HttpCase("NUL in a terminate reason", "POST", f"{API}/workflows/w/terminate", {"reason": "\x00"}),
    HttpCase("NUL in a cancel reason", "POST", f"{API}/workflows/w/cancel", {"reason": "\x00"}),
    HttpCase("NUL in an update name", "POST", f"{API}/workflows/w/update", {"name": "u\x00"}),
    HttpCase(
        "NUL in a namespace description", "POST", "/api/v1/namespaces", {"name": "n1", "description": "\x00"}
    ),
    HttpCase(
        "NUL in an API key's namespace", "POST", "/api/v1/api-keys", {"namespace": "n\x00", "role": "reader"}
    ),
    HttpCase("long task queue described", "GET", f"{API}/task-queues/{LONG_TQ}"),
    HttpCase("NUL in a task queue path", "GET", f"{API}/task-queues/q%00"),
    HttpCase("task queue described escaping past 255 bytes", "GET", f"{API}/task-queues/{'é' * 40}"),
    HttpCase(
        "unknown namespace",
        "GET",
        "/api/v1/namespaces/no-such-ns/workflows/w",
        status=404,
        code="namespace_not_found",
    ),
    # What the last session added (issue 9's guarantees on new code): cron schedules, eager
    # starts, update headers, schedules' own search attributes.
    HttpCase("NUL in a cron schedule", "POST", f"{API}/workflows", _start(cron_schedule="* * \x00 * *")),
    HttpCase(
        "a cron schedule that is no cron", "POST", f"{API}/workflows", _start(cron_schedule="every day")
    ),
    HttpCase(
        "a cron schedule of 20,000 characters", "POST", f"{API}/workflows", _start(cron_schedule="*" * 20_000)
    ),
    HttpCase("a cron minute of 99", "POST", f"{API}/workflows", _start(cron_schedule="99 * * * *")),
    HttpCase(
        "NUL in an eager start's args",
        "POST",
        f"{API}/workflows",
        _start(request_eager_execution=True, args=["\x00"]),
    ),
    HttpCase(
        "an eager start that is not a boolean",
        "POST",
        f"{API}/workflows",
        _start(request_eager_execution={"yes": 1}),
    ),
    # Session 12's start that waits for its result (durable, session 13): seconds, a number only
    # (a JSON `true` was read as a one-second wait).
    HttpCase("a wait for the result of true", "POST", f"{API}/workflows", _start(wait_for_result=True)),
    HttpCase("a wait for the result given as text", "POST", f"{API}/workflows", _start(wait_for_result="5")),
    HttpCase("a wait for the result of zero", "POST", f"{API}/workflows", _start(wait_for_result=0)),
    HttpCase("a wait for the result of 1e300", "POST", f"{API}/workflows", _start(wait_for_result=1e300)),
    HttpCase("a wait for the result that is a list", "POST", f"{API}/workflows", _start(wait_for_result=[5])),
    HttpCase(
        "NUL in an update header's name", "POST", f"{API}/workflows/w/update", _update(header={"k\x00": {}})
    ),
    HttpCase(
        "NUL in an update header's value",
        "POST",
        f"{API}/workflows/w/update",
        _update(header={"k": {"data": "\x00"}}),
    ),
    HttpCase("an update header that is a list", "POST", f"{API}/workflows/w/update", _update(header=[1, 2])),
    HttpCase(
        "an update header value that is no payload",
        "POST",
        f"{API}/workflows/w/update",
        _update(header={"k": "plain"}),
    ),
    HttpCase(
        "an update header nested 65 deep",
        "POST",
        f"{API}/workflows/w/update",
        _update(header={"k": {"data": nested(65)}}),
    ),
    HttpCase("NUL in a schedule's search attribute", "POST", f"{API}/schedules", _schedule({"Tag": "a\x00"})),
    HttpCase("NUL in a schedule's attribute name", "POST", f"{API}/schedules", _schedule({"T\x00g": "a"})),
    HttpCase(
        "a schedule's attribute that is an object", "POST", f"{API}/schedules", _schedule({"Tag": {"a": 1}})
    ),
    HttpCase(
        "a schedule's keyword list of 101", "POST", f"{API}/schedules", _schedule({"Tags": ["x"] * 101})
    ),
    HttpCase("a schedule's keyword list of numbers", "POST", f"{API}/schedules", _schedule({"Tags": [1, 2]})),
    HttpCase("a schedule's attribute with no value", "POST", f"{API}/schedules", _schedule({"Tag": None})),
    HttpCase(
        "a schedule's attribute of 100 nested lists",
        "POST",
        f"{API}/schedules",
        _schedule({"Tag": nested(100)}),
    ),
    HttpCase(
        "a schedule's attributes updated to an object",
        "POST",
        f"{API}/schedules/hostile-none/update",
        {k: v for k, v in _schedule({"Tag": {"a": 1}}).items() if k != "schedule_id"},
    ),
    HttpCase(
        "20 MB body",
        "POST",
        f"{API}/workflows",
        raw=b'{"args": ["' + b"x" * (20 << 20) + b'"]}',
        status=413,
        code="payload_too_large",
    ),
)


def _cmd(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _start_cmd(**fields: Any) -> dict[str, Any]:
    return _start(**fields)


COMMAND_CASES: tuple[CommandCase, ...] = (
    CommandCase("NUL in the workflow id", "start", _cmd(_start_cmd(workflow_id=NUL)), "invalid_command"),
    CommandCase("NUL in the args", "start", _cmd(_start_cmd(args=["\x00"])), "invalid_command"),
    CommandCase(
        "NUL in a signal argument",
        "signal",
        _cmd({"workflow_id": "w", "signal_name": "s", "args": ["\x00"]}),
        "invalid_command",
    ),
    CommandCase("lone surrogate in the args", "start", _raw_start('["\\ud800"]'), "invalid_command"),
    CommandCase("args nested 200 deep", "start", _raw_start(f"[{nested_text(199)}]"), "invalid_argument"),
    CommandCase("args nested 900 deep", "start", _raw_start(f"[{nested_text(899)}]"), "invalid_argument"),
    CommandCase("args nested 100000 deep", "start", _raw_start(nested_text(100_000)), "invalid_argument"),
    CommandCase("an integer of 5000 digits", "start", _raw_start("[" + "9" * 5000 + "]"), "bad_json"),
    CommandCase(
        "task queue of 300 characters", "start", _cmd(_start_cmd(task_queue=LONG_TQ)), "invalid_command"
    ),
    CommandCase(
        "negative retry interval",
        "start",
        _cmd(_start_cmd(retry_policy={"initial_interval": -1})),
        "invalid_command",
    ),
    CommandCase(
        "NUL in a terminate reason",
        "terminate",
        _cmd({"workflow_id": "w", "reason": "\x00"}),
        "invalid_command",
    ),
    CommandCase("NUL in a cron schedule", "start", _cmd(_start_cmd(cron_schedule="\x00")), "invalid_command"),
    CommandCase(
        "a cron schedule that is no cron",
        "start",
        _cmd(_start_cmd(cron_schedule="every day")),
        "invalid_argument",
    ),
    CommandCase(
        "a cron schedule of 20,000 characters",
        "start",
        _cmd(_start_cmd(cron_schedule="*" * 20_000)),
        "invalid_command",
    ),
    CommandCase(
        "a cron schedule with a start delay",
        "start",
        _cmd(_start_cmd(cron_schedule="* * * * *", start_delay=5)),
        "invalid_argument",
    ),
    CommandCase(
        "NUL in a signal-with-start's cron schedule",
        "signal-with-start",
        _cmd(_start_cmd(signal_name="s", cron_schedule="* \x00")),
        "invalid_command",
    ),
    CommandCase(
        "a signal-with-start's cron schedule that is no cron",
        "signal-with-start",
        _cmd(_start_cmd(signal_name="s", cron_schedule="61 * * * *")),
        "invalid_argument",
    ),
    CommandCase(
        "a signal-with-start's cron schedule that is a list",
        "signal-with-start",
        _cmd(_start_cmd(signal_name="s", cron_schedule=["* * * * *"])),
        "invalid_command",
    ),
    CommandCase("not JSON", "start", b"\xff\xfe{", "bad_json"),
)


async def check_http_case(http: httpx.AsyncClient, case: HttpCase) -> None:
    if case.raw is not None:
        response = await http.request(
            case.method, case.path, content=case.raw, headers={"content-type": "application/json"}
        )
    elif case.body is not None:
        # json.dumps writes NUL as \u0000, exactly what a client sends.
        response = await http.request(
            case.method,
            case.path,
            content=json.dumps(case.body),
            headers={"content-type": "application/json"},
        )
    else:
        response = await http.request(case.method, case.path)
    assert response.status_code == case.status, f"{case.name}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/problem+json"), case.name
    body = response.json()
    assert body["code"] == case.code and body["detail"], f"{case.name}: {body}"


CommandCall = Callable[[str, bytes], Awaitable[dict[str, Any]]]


async def check_command_case(call: CommandCall, case: CommandCase) -> None:
    reply = await call(case.routing_key, case.body)
    assert reply["type"] == "CommandRejected", f"{case.name}: {reply}"
    assert reply["code"] == case.code and reply["dead_lettered"] is True, f"{case.name}: {reply}"
