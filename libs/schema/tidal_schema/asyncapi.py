"""The AsyncAPI 3.0 document and JSON Schema of the public command exchange, generated from
`client_commands` (the committed copies in docs/ are checked against this by a test):

    uv run python -m tidal_schema.asyncapi > docs/asyncapi.yaml
    uv run python -m tidal_schema.asyncapi --json-schema > docs/commands.schema.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from . import names
from .client_commands import CLIENT_COMMAND, COMMAND_REPLY, CommandType

_REF = "#/components/schemas/{model}"

_MODELS = {
    CommandType.START: "StartWorkflowCommand",
    CommandType.SIGNAL: "SignalWorkflowCommand",
    CommandType.SIGNAL_WITH_START: "SignalWithStartCommand",
    CommandType.CANCEL: "CancelWorkflowCommand",
    CommandType.TERMINATE: "TerminateWorkflowCommand",
}

EXAMPLES: dict[CommandType, dict[str, Any]] = {
    CommandType.START: {
        "workflow_id": "order-17",
        "workflow_type": "OrderWorkflow",
        "task_queue": "orders",
        "args": ["A-17"],
        "request_id": "order-17-start",
    },
    CommandType.SIGNAL: {"workflow_id": "order-17", "signal_name": "approve", "args": ["alice"]},
    CommandType.SIGNAL_WITH_START: {
        "workflow_id": "order-18",
        "workflow_type": "OrderWorkflow",
        "task_queue": "orders",
        "args": ["A-18"],
        "signal_name": "approve",
        "signal_args": ["bob"],
    },
    CommandType.CANCEL: {"workflow_id": "order-17", "reason": "customer cancelled"},
    CommandType.TERMINATE: {"namespace": "default", "workflow_id": "order-17", "reason": "stuck"},
}
"""One body per command, as published (no `type`: the routing key supplies it)."""

REPLY_EXAMPLES = [
    {
        "type": "CommandAccepted",
        "command": "start",
        "workflow_id": "order-17",
        "run_id": "3b0c6b1e-5f4c-4a53-9b8e-0e2f5f0f6c11",
        "started": True,
        "request_id": "order-17-start",
        "schema_version": 1,
    },
    {
        "type": "CommandRejected",
        "command": "signal",
        "workflow_id": "order-99",
        "code": "not_found",
        "message": "no running workflow 'order-99' to signal",
        "dead_lettered": False,
        "schema_version": 1,
    },
]

_DESCRIPTION = (
    f"Publish JSON commands to the `{names.COMMANDS_EXCHANGE}` topic exchange; the routing key is the "
    "command (`start`, `signal`, `signal-with-start`, `cancel`, `terminate`) and supplies `type` when "
    "the body has none. Tidal's frontends consume them from the durable queue "
    f"`{names.COMMANDS_QUEUE}` and ack a command only once history accepted it. Set `message_id` (or "
    "`request_id` in the body) as the idempotency key. With `reply_to` (and `correlation_id`) the "
    "publisher gets a CommandAccepted or CommandRejected reply. Invalid commands go to "
    f"`{names.DEAD_LETTER_QUEUE}` with the reason in the `x-tidal-dead-letter-reason` header. "
    "See docs/commands.md."
)


def command_json_schema() -> dict[str, Any]:
    """{"ClientCommand": ..., "CommandReply": ...}: stand-alone JSON Schemas."""
    return {"ClientCommand": CLIENT_COMMAND.json_schema(), "CommandReply": COMMAND_REPLY.json_schema()}


def asyncapi_document() -> dict[str, Any]:
    commands = CLIENT_COMMAND.json_schema(ref_template=_REF)
    replies = COMMAND_REPLY.json_schema(ref_template=_REF)
    schemas = {**commands.pop("$defs"), **replies.pop("$defs")}
    exchange = {
        "name": names.COMMANDS_EXCHANGE,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for kind, model in _MODELS.items():
        channel = f"command-{kind.value}"
        messages[model] = {
            "name": model,
            "title": model,
            "summary": schemas[model].get("description", ""),
            "contentType": "application/json",
            "payload": {"$ref": _REF.format(model=model)},
            "correlationId": {"location": "$message.header#/correlation_id"},
            "examples": [{"name": kind.value, "payload": EXAMPLES[kind]}],
        }
        channels[channel] = {
            "address": kind.value,
            "description": f"routing key `{kind.value}` on `{names.COMMANDS_EXCHANGE}`",
            "messages": {model: {"$ref": f"#/components/messages/{model}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": "0.3.0"}},
        }
        operations[f"receive-{kind.value}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": schemas[model].get("description", ""),
            # Publish persistent; the frontend acks once history accepted the command.
            "bindings": {"amqp": {"deliveryMode": 2, "ack": True, "bindingVersion": "0.3.0"}},
            "reply": {
                "address": {
                    "location": "$message.header#/reply_to",
                    "description": "the publisher's reply_to queue (optional)",
                },
                "channel": {"$ref": "#/channels/reply"},
            },
        }
    for reply in ("CommandAccepted", "CommandRejected"):
        messages[reply] = {
            "name": reply,
            "title": reply,
            "summary": schemas[reply].get("description", ""),
            "contentType": "application/json",
            "payload": {"$ref": _REF.format(model=reply)},
            "correlationId": {"location": "$message.header#/correlation_id"},
            "examples": [
                {"name": e["code"] if "code" in e else "accepted", "payload": e}
                for e in REPLY_EXAMPLES
                if e["type"] == reply
            ],
        }
    channels["reply"] = {
        "address": None,
        "description": "the reply_to queue of the command, on the default exchange",
        "messages": {
            r: {"$ref": f"#/components/messages/{r}"} for r in ("CommandAccepted", "CommandRejected")
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Tidal command exchange", "version": "1", "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


# --- a small YAML emitter (block style; strings JSON-quoted, which YAML reads as-is) -------------


def to_yaml(value: Any, indent: int = 0) -> str:
    return "".join(_lines(value, indent))


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return json.dumps(v)
    return json.dumps(str(v), ensure_ascii=False)


def _key(k: str) -> str:
    plain = k.replace("-", "").replace("_", "").isalnum() and not k[0].isdigit()
    return k if plain else json.dumps(k)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        if not value:
            return [f"{pad}{{}}\n"]
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{_key(str(k))}:\n")
                out.extend(_lines(v, indent + 2))
            else:
                out.append(f"{pad}{_key(str(k))}: {_empty_or_scalar(v)}\n")
        return out
    if isinstance(value, list):
        if not value:
            return [f"{pad}[]\n"]
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _lines(item, indent + 2)
                out.append(f"{pad}- {nested[0].lstrip()}")
                out.extend(nested[1:])
            else:
                out.append(f"{pad}- {_empty_or_scalar(item)}\n")
        return out
    return [f"{pad}{_scalar(value)}\n"]


def _empty_or_scalar(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def render_asyncapi() -> str:
    header = "# Generated by `python -m tidal_schema.asyncapi`; do not edit (a test checks it).\n"
    return header + to_yaml(asyncapi_document())


def render_json_schema() -> str:
    return json.dumps(command_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sys.stdout.write(render_json_schema() if "--json-schema" in args else render_asyncapi())


if __name__ == "__main__":
    main()
