"""Request and answer pieces shared by the operations (pydantic only: no transport here)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tidal_schema import Failure, Payload, WorkflowExecutionStatus
from tidal_schema.limits import JsonValue

from ..problems import Problem

__all__ = ["RequestModel", "RunRef", "WithInput", "WorkflowResultResponse", "not_found"]


class RequestModel(BaseModel):
    # Unknown fields are refused: a misspelt option silently ignored is worse than a 400.
    model_config = ConfigDict(extra="forbid")


class WithInput(RequestModel):
    """`input` (encoded payloads, what the SDK sends) or `args` (plain JSON values, for curl),
    never both."""

    input: list[Payload] | None = Field(
        default=None, description='encoded arguments: [{"metadata": {"encoding": "json/plain"}, "data": ...}]'
    )
    args: list[JsonValue] | None = Field(
        default=None, description="plain JSON arguments (wrapped as json/plain)"
    )

    @model_validator(mode="after")
    def _one_of(self) -> WithInput:
        if self.input is not None and self.args is not None:
            raise ValueError("give either input (payloads) or args (plain JSON values), not both")
        return self

    def payloads(self) -> tuple[Payload, ...]:
        if self.input is not None:
            return tuple(self.input)
        return tuple(Payload(data=v) for v in self.args or ())


class RunRef(BaseModel):
    """Which run an accepted write applied to."""

    workflow_id: str
    run_id: str | None


def not_found(namespace: str, workflow_id: str, run_id: str | None) -> Problem:
    which = f"run {run_id} of workflow" if run_id else "workflow"
    return Problem("not_found", f"{which} {workflow_id!r} not found in namespace {namespace!r}")


class WorkflowResultResponse(BaseModel):
    workflow_id: str
    run_id: str
    status: WorkflowExecutionStatus
    result: list[Payload] | None = Field(default=None, description="when Completed")
    failure: Failure | None = Field(
        default=None, description="when Failed, TimedOut, Terminated or Canceled (if recorded)"
    )
    new_run_id: str | None = Field(
        default=None,
        description="when ContinuedAsNew, or Failed and retried by its retry policy: the run to poll next",
    )
