"""Pieces shared by the HTTP adapters: path parameters, and the request/answer models of
`operations.models` (re-exported: they are part of the HTTP API's schema)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from tidal_schema.limits import MAX_ID_LENGTH, STORE_SAFE_PATTERN

from ..operations.models import RequestModel, RunRef, WithInput, not_found

__all__ = [
    "NamespacePath",
    "RequestModel",
    "RunIdQuery",
    "RunRef",
    "WithInput",
    "WorkflowIdPath",
    "not_found",
]

# Workflow ids may contain "/" (the route uses the `path` converter); namespaces may not.
NamespacePath = Annotated[
    str,
    Path(min_length=1, max_length=1000, pattern=STORE_SAFE_PATTERN, description="namespace, e.g. default"),
]
WorkflowIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN)]
RunIdQuery = Annotated[
    str | None,
    Query(max_length=MAX_ID_LENGTH, pattern=STORE_SAFE_PATTERN, description="default: the current run"),
]
