"""The base classes of every bus message (see messages.py)."""

from __future__ import annotations

from .common import SCHEMA_VERSION, Frozen
from .limits import (
    Id,
    NamespaceName,
)


class _Message(Frozen):
    schema_version: int = SCHEMA_VERSION


class _ExecutionRef(_Message):
    namespace: NamespaceName = "default"
    workflow_id: Id
    run_id: Id
