"""The public command schema: examples validate, routing keys are the tags, docs are up to date."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from tidal_schema import asyncapi
from tidal_schema.client_commands import (
    CLIENT_COMMAND,
    COMMAND_REPLY,
    CommandType,
    SignalWithStartCommand,
    StartWorkflowCommand,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"
REGENERATE = "regenerate with `uv run python -m tidal_schema.asyncapi{} > docs/{}`"


def test_every_example_validates_with_the_routing_key_as_type() -> None:
    assert set(asyncapi.EXAMPLES) == set(CommandType)
    for kind, body in asyncapi.EXAMPLES.items():
        cmd = CLIENT_COMMAND.validate_python({**body, "type": kind.value})
        assert cmd.type == kind.value
    for reply in asyncapi.REPLY_EXAMPLES:
        COMMAND_REPLY.validate_python(reply)


def test_commands_are_strict_and_default_sensibly() -> None:
    cmd = CLIENT_COMMAND.validate_json(
        '{"type": "signal-with-start", "workflow_id": "w", "workflow_type": "T", "task_queue": "q", '
        '"signal_name": "go", "signal_args": [1, {"a": 2}], "workflow_task_timeout": 5}'
    )
    assert isinstance(cmd, SignalWithStartCommand) and cmd.namespace == "default"
    assert cmd.signal_args == [1, {"a": 2}] and cmd.workflow_task_timeout == 5
    with pytest.raises(ValidationError, match="extra"):
        StartWorkflowCommand.model_validate(
            {"workflow_id": "w", "workflow_type": "T", "task_queue": "q", "input": []}
        )
    with pytest.raises(ValidationError):
        CLIENT_COMMAND.validate_python({"type": "start", "workflow_id": "w", "workflow_type": "T"})
    with pytest.raises(ValidationError):
        CLIENT_COMMAND.validate_python({"type": "launch", "workflow_id": "w"})


def test_the_committed_asyncapi_document_is_up_to_date() -> None:
    committed = (DOCS / "asyncapi.yaml").read_text()
    assert committed == asyncapi.render_asyncapi(), REGENERATE.format("", "asyncapi.yaml")


def test_the_committed_json_schema_is_up_to_date() -> None:
    committed = (DOCS / "commands.schema.json").read_text()
    assert committed == asyncapi.render_json_schema(), REGENERATE.format(
        " --json-schema", "commands.schema.json"
    )


def test_the_yaml_emitter_writes_what_it_was_given() -> None:
    doc = {"a": {"b": [1, "two", {"c": None, "d": True}], "e": {}}, "f-g": [], "$ref": "x: y"}
    assert asyncapi.to_yaml(doc) == (
        'a:\n  b:\n    - 1\n    - "two"\n    - c: null\n      d: true\n  e: {}\nf-g: []\n"$ref": "x: y"\n'
    )
