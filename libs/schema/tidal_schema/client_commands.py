"""The public command exchange (`tidal.commands`): what any AMQP client may publish, and the replies.

Not to be confused with `commands.py` (the commands a workflow task returns). A command is one JSON
object; its `type` says what to do and defaults to the message's routing key, so
`amqp-publish -e tidal.commands -r start -b '{"workflow_id": ...}'` needs no `type` in the body.
Arguments are plain JSON values (the frontend wraps them as `json/plain` payloads); durations are
seconds. The idempotency key is the AMQP `message_id`, or `request_id` in the body for publishers
that cannot set properties (amqp-publish).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from .common import SCHEMA_VERSION, Frozen, RetryPolicy, WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from .limits import (
    MAX_REQUEST_ID_LENGTH,
    MAX_TEXT_LENGTH,
    STORE_SAFE_PATTERN,
    Id,
    JsonValue,
    Name,
    NamespaceName,
    OptionalId,
    TaskQueueName,
    Text,
)
from .limits import Seconds as Seconds


class CommandType(StrEnum):
    """Also the routing keys on `tidal.commands`."""

    START = "start"
    SIGNAL = "signal"
    SIGNAL_WITH_START = "signal-with-start"
    CANCEL = "cancel"
    TERMINATE = "terminate"


class _Command(Frozen):
    schema_version: int = SCHEMA_VERSION
    namespace: NamespaceName = "default"
    workflow_id: Id
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_REQUEST_ID_LENGTH,
        pattern=STORE_SAFE_PATTERN,
        description="idempotency key when the AMQP message_id cannot be set (message_id wins)",
    )
    identity: Text = Field(default="", max_length=1000)


class _StartFields(_Command):
    workflow_type: Name
    task_queue: TaskQueueName
    args: list[JsonValue] = Field(default_factory=list, description="the workflow's arguments, plain JSON")
    workflow_execution_timeout: Seconds | None = None
    workflow_run_timeout: Seconds | None = None
    workflow_task_timeout: Seconds | None = Field(default=None, description="seconds (default 10)")
    id_reuse_policy: WorkflowIdReusePolicy = WorkflowIdReusePolicy.ALLOW_DUPLICATE
    id_conflict_policy: WorkflowIdConflictPolicy = WorkflowIdConflictPolicy.FAIL
    retry_policy: RetryPolicy | None = Field(default=None, description="intervals in seconds")
    memo: dict[Name, JsonValue] = Field(default_factory=dict, description="plain JSON values")
    search_attributes: dict[Name, JsonValue] = Field(default_factory=dict)
    start_delay: Seconds | None = None
    cron_schedule: Text | None = Field(
        default=None,
        max_length=1000,
        description="Temporal's cron schedule (a cron string or @every, as the HTTP start's): the "
        "first run waits for the first cron time, each close starts the next run; an invalid one "
        "(or one with start_delay) is dead-lettered as invalid_argument",
    )


class StartWorkflowCommand(_StartFields):
    """Start a run (routing key `start`)."""

    type: Literal["start"] = "start"


class SignalWithStartCommand(_StartFields):
    """Signal the running run, or start one with the signal as its first event after the start
    (routing key `signal-with-start`)."""

    type: Literal["signal-with-start"] = "signal-with-start"
    signal_name: Name
    signal_args: list[JsonValue] = Field(
        default_factory=list, description="the signal's arguments, plain JSON"
    )


class SignalWorkflowCommand(_Command):
    """Signal a running run (routing key `signal`)."""

    type: Literal["signal"] = "signal"
    run_id: OptionalId | None = Field(default=None, description="a specific run (default: the current run)")
    signal_name: Name
    args: list[JsonValue] = Field(default_factory=list, description="the signal's arguments, plain JSON")


class CancelWorkflowCommand(_Command):
    """Ask a run to cancel (routing key `cancel`)."""

    type: Literal["cancel"] = "cancel"
    run_id: OptionalId | None = None
    reason: Text = Field(default="", max_length=MAX_TEXT_LENGTH)


class TerminateWorkflowCommand(_Command):
    """End a run now, without running workflow code (routing key `terminate`)."""

    type: Literal["terminate"] = "terminate"
    run_id: OptionalId | None = None
    reason: Text = Field(default="", max_length=MAX_TEXT_LENGTH)


ClientCommand = Annotated[
    StartWorkflowCommand
    | SignalWorkflowCommand
    | SignalWithStartCommand
    | CancelWorkflowCommand
    | TerminateWorkflowCommand,
    Field(discriminator="type"),
]


# --- replies (sent when the command has reply_to; correlation_id is copied) -----------------


class CommandAccepted(Frozen):
    """History applied the command (or had already applied it: a duplicate is answered alike)."""

    schema_version: int = SCHEMA_VERSION
    type: Literal["CommandAccepted"] = "CommandAccepted"
    command: CommandType
    workflow_id: str
    run_id: str | None = None
    started: bool | None = Field(
        default=None, description="start/signal-with-start: false when an existing run was used"
    )
    request_id: str | None = None


class CommandRejected(Frozen):
    """The command was refused. `dead_lettered` says whether it was also parked in the
    dead-letter queue (bad input) or only answered (e.g. already_started, not_found)."""

    schema_version: int = SCHEMA_VERSION
    type: Literal["CommandRejected"] = "CommandRejected"
    command: str | None = None
    workflow_id: str | None = None
    code: str = Field(
        description="bad_json, invalid_command, payload_too_large, invalid_argument, "
        "already_started, not_found, namespace_not_found, namespace_deprecated, rate_limited, internal"
    )
    message: str
    dead_lettered: bool = False
    run_id: str | None = None


CommandReply = Annotated[CommandAccepted | CommandRejected, Field(discriminator="type")]

CLIENT_COMMAND: TypeAdapter[ClientCommand] = TypeAdapter(ClientCommand)
COMMAND_REPLY: TypeAdapter[CommandReply] = TypeAdapter(CommandReply)
