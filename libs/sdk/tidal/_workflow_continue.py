"""Continue-as-new from workflow code: part of `tidal.workflow`'s API (re-exported there;
mirrors temporalio.workflow)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NoReturn

from ._definitions import get_definition
from ._search_attributes import TypedSearchAttributes
from ._visibility import encode_search_attributes
from ._workflow_context import _MISSING, _rt
from .common import RetryPolicy

__all__ = ["ContinueAsNewError", "continue_as_new"]


class ContinueAsNewError(BaseException):
    """Raised by `continue_as_new`; a BaseException so `except Exception` in workflow code does not
    swallow it. The runtime turns it into a ContinueAsNewWorkflowExecution command."""

    def __init__(
        self,
        *,
        args: Sequence[Any],
        workflow: str | None,
        task_queue: str | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
        backoff_start_interval: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        search_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__("Continue as new")
        self.input_args = list(args)
        self.workflow = workflow
        self.task_queue = task_queue
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.backoff_start_interval = backoff_start_interval
        self.retry_policy = retry_policy
        self.memo = memo  # None: the successor keeps this run's
        self.search_attributes = search_attributes  # encoded JSON values; None: keep this run's


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
    attrs: Mapping[str, Any] | None = None
    if isinstance(search_attributes, TypedSearchAttributes):
        attrs = search_attributes.to_json()
    elif search_attributes is not None:
        attrs = encode_search_attributes(dict(search_attributes))
    raise ContinueAsNewError(
        args=args,
        workflow=name,
        task_queue=task_queue,
        run_timeout=run_timeout,
        task_timeout=task_timeout,
        backoff_start_interval=backoff_start_interval,
        retry_policy=retry_policy,
        memo=memo,
        search_attributes=attrs,
    )
