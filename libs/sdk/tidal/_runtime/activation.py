"""The state one activation shares with the runtime's collaborators (local activities, handlers,
and in time the others): the run's loop and converter (fixed), and the mutable parts named: the
commands the activation in progress has produced, whether it replays history, whether workflow
code may only read (a query, an update validator), and the workflow's object once it exists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tidal_schema.commands import Command

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
