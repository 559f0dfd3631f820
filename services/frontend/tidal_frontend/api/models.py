"""Pieces shared by the HTTP adapters: path parameters, and the request/answer models of
`operations.models` (re-exported: they are part of the HTTP API's schema)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from ..operations.models import RequestModel, RunRef, WithInput, not_found

__all__ = ["NamespacePath", "RequestModel", "RunRef", "WithInput", "WorkflowIdPath", "not_found"]

# Workflow ids may contain "/" (the route uses the `path` converter); namespaces may not.
NamespacePath = Annotated[str, Path(min_length=1, max_length=1000, description="namespace, e.g. default")]
WorkflowIdPath = Annotated[str, Path(min_length=1, max_length=1000)]
