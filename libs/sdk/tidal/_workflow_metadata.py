"""What a workflow says about itself beyond its result: its current details and its memo.
Part of `tidal.workflow`'s API (re-exported there; mirrors temporalio's functions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidal_schema.limits import MAX_TEXT_LENGTH, check_store_safe

from ._workflow_context import _rt

__all__ = ["get_current_details", "set_current_details", "upsert_memo"]


def set_current_details(description: str) -> None:
    """Set the run's current details (temporalio's user metadata: free text, e.g. markdown, that
    can change throughout the run, unlike the static details given at start). Reported with
    the workflow task's completion, so `describe()` and the web UI show what the workflow last
    set as of its last completed task; replay sets it again, so it needs no history event.
    At most 10,000 characters, without NUL (ValueError otherwise)."""
    if not isinstance(description, str):
        raise TypeError(f"current details must be a str, not {type(description).__name__}")
    if len(description) > MAX_TEXT_LENGTH:
        raise ValueError(f"current details are limited to {MAX_TEXT_LENGTH} characters ({len(description)})")
    check_store_safe(description, "the current details")  # its LimitError is a ValueError
    _rt().current_details = description


def get_current_details() -> str:
    """What `set_current_details` last set in this run ("" if nothing)."""
    return _rt().current_details


def upsert_memo(updates: Mapping[str, Any]) -> None:
    """Add, replace or (with the value None) remove memo keys, as temporalio's. Recorded as a
    command (a `WorkflowPropertiesModified` event), so `describe()` and `list_workflows()` show
    the new memo once the task completes, a continue-as-new carries it, and `workflow.memo()`
    sees it at once. Replaying code that no longer upserts here is a nondeterminism error."""
    if not updates:
        return
    converter = _rt().converter
    # Converted before the command exists, so a value that cannot be converted leaves none.
    payloads = {str(k): converter.to_payload(v) for k, v in updates.items()}
    _rt().upsert_memo(payloads)
