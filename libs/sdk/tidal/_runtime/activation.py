"""The state one activation shares with the runtime's collaborators (local activities, handlers,
and in time the others): the run's loop and converter (fixed), and the mutable parts named: the
commands the activation in progress has produced, whether it replays history, whether workflow
code may only read (a query, an update validator), and the workflow's object once it exists."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tidal_schema import Payload
from tidal_schema.commands import (
    Command,
    ModifyWorkflowPropertiesCommand,
    UpsertWorkflowSearchAttributesCommand,
)

from .._search_attributes import TypedSearchAttributes
from .._workflow_context import ReadOnlyContextError
from .._workflow_info import Info
from ..converter import DataConverter
from .loop import WorkflowEventLoop

__all__ = ["ActivationState"]

_T = TypeVar("_T")


@dataclass(kw_only=True, eq=False)
class ActivationState:
    loop: WorkflowEventLoop
    converter: DataConverter
    # Mutable: produced by the activation in progress, handed to the worker by `take_commands`.
    commands: list[Command] = field(default_factory=list)
    replaying: bool = False
    read_only: bool = False
    # The `@workflow.defn` class's instance, from the run's start on (None before).
    workflow_object: Any = None
    # The run's info, from its start on; replaced (never changed in place) by upserts.
    info: Info | None = None
    # An error from workflow code that is not a FailureError (a bug): fails the workflow task.
    task_failure: BaseException | None = None

    @property
    def run_info(self) -> Info:
        if self.info is None:
            raise RuntimeError("workflow info is not available before the run starts")
        return self.info

    def add_command(self, cmd: Command) -> None:
        """Every command workflow code produces comes through here, so a query handler or an
        update validator that tries one gets ReadOnlyContextError at the call."""
        self.assert_not_read_only(f"add command {type(cmd).__name__}")
        self.commands.append(cmd)

    def remove_command(self, cmd: Command) -> bool:
        """Drop a command produced in this activation (it never reaches the server)."""
        for i, c in enumerate(self.commands):
            if c is cmd:
                del self.commands[i]
                return True
        return False

    def take_commands(self) -> list[Command]:
        produced = list(self.commands)
        self.commands.clear()
        return produced

    def assert_not_read_only(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyContextError(f"While in read-only function, action attempted: {what}")

    def run_read_only(self, fn: Callable[..., _T], *args: object) -> _T:
        """Call `fn` where workflow code may only read (a query, an update validator)."""
        before, self.read_only = self.read_only, True
        try:
            return fn(*args)
        finally:
            self.read_only = before

    def upsert_memo(self, payloads: Mapping[str, Payload]) -> None:
        """Record the memo upsert and show it in `info().raw_memo` at once (as temporalio): a
        `binary/null` payload (None) removes its key."""
        self.add_command(ModifyWorkflowPropertiesCommand(upserted_memo=dict(payloads)))
        memo = dict(self.run_info.raw_memo)
        for key, payload in payloads.items():
            if payload.metadata.get("encoding") == "binary/null":
                memo.pop(key, None)
            else:
                memo[key] = payload
        self.info = dataclasses.replace(self.run_info, raw_memo=memo)

    def upsert_search_attributes(self, values: Mapping[str, Any]) -> None:
        """Record the upsert command and show the new values in `info()` at once (as temporalio);
        replay runs the same code, so the info stays deterministic."""
        self.add_command(UpsertWorkflowSearchAttributesCommand(search_attributes=dict(values)))
        merged = {**self.run_info.search_attributes, **values}
        current = {k: v for k, v in merged.items() if v is not None}
        self.info = dataclasses.replace(
            self.run_info,
            search_attributes=current,
            typed_search_attributes=TypedSearchAttributes.from_json(current),
        )
