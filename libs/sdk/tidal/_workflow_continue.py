"""Continue-as-new from workflow code: part of `tidal.workflow`'s API (re-exported there;
mirrors temporalio.workflow)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NoReturn

from tidal_schema.commands import ContinueAsNewWorkflowExecution

from ._definitions import get_definition
from ._search_attributes import TypedSearchAttributes
from ._visibility import encode_search_attributes
from ._workflow_context import _MISSING, _rt
from ._workflow_info import Info
from ._workflow_interceptors import ContinueAsNewInput
from .common import RetryPolicy
from .converter import DataConverter

__all__ = ["ContinueAsNewError", "continue_as_new"]


class ContinueAsNewError(BaseException):
    """Raised by `continue_as_new`: let it propagate out of the workflow, which then continues as
    new. A BaseException so `except Exception` in workflow code does not swallow it. Not to be
    built directly (as temporalio's): call `workflow.continue_as_new`."""

    def __init__(self, *args: object) -> None:
        if type(self) is ContinueAsNewError:
            raise RuntimeError(
                "Cannot instantiate ContinueAsNewError directly: call workflow.continue_as_new"
            )
        super().__init__(*args)


class ContinueAsNewRequest(ContinueAsNewError):
    """What the outbound chain's root raises: the (possibly intercepted) request."""

    def __init__(self, input: ContinueAsNewInput) -> None:
        super().__init__("Continue as new")
        self.input = input


def continue_as_new(
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    workflow: type | str | None = None,
    backoff_start_interval: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    memo: Mapping[str, Any] | None = None,
    search_attributes: TypedSearchAttributes | Mapping[str, Any] | None = None,
) -> NoReturn:
    """End this run and start a new one of the same workflow id with fresh history. The new run
    keeps this run's memo, search attributes (with upserts) and retry policy unless given here;
    `backoff_start_interval` delays its first workflow task, as in temporalio."""
    rt = _rt()  # only meaningful inside workflow code
    rt.assert_not_read_only("continue as new")
    if arg is not _MISSING:
        args = [arg]
    name = workflow if isinstance(workflow, str) or workflow is None else get_definition(workflow).name
    rt.outbound.continue_as_new(
        ContinueAsNewInput(
            workflow=name,
            args=args,
            task_queue=task_queue,
            run_timeout=run_timeout,
            task_timeout=task_timeout,
            backoff_start_interval=backoff_start_interval,
            retry_policy=retry_policy,
            memo=memo,
            search_attributes=search_attributes,
            headers={},
            versioning_intent=None,
            initial_versioning_behavior=None,
        )
    )


def continue_as_new_command(
    input: ContinueAsNewInput, info: Info, converter: DataConverter
) -> ContinueAsNewWorkflowExecution:
    """The command a continue-as-new request becomes (unset options: this run's)."""
    attrs: Mapping[str, Any] | None = None
    if isinstance(input.search_attributes, TypedSearchAttributes):
        attrs = input.search_attributes.to_json()
    elif input.search_attributes is not None:
        attrs = encode_search_attributes(dict(input.search_attributes))
    return ContinueAsNewWorkflowExecution(
        workflow_type=input.workflow or info.workflow_type,
        task_queue=input.task_queue or info.task_queue,
        input=converter.to_payloads(list(input.args)),
        workflow_run_timeout=input.run_timeout or info.run_timeout,
        workflow_task_timeout=input.task_timeout or info.task_timeout,
        backoff_start_interval=input.backoff_start_interval,
        retry_policy=input.retry_policy.to_schema() if input.retry_policy else None,
        memo=(
            {k: converter.to_payload(v) for k, v in input.memo.items()} if input.memo is not None else None
        ),
        search_attributes=dict(attrs) if attrs is not None else None,
        header=dict(input.headers),
    )
