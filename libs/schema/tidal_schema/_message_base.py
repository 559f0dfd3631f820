"""The base classes of every bus message (see messages.py)."""

from __future__ import annotations

from .common import SCHEMA_VERSION, Frozen


class _Message(Frozen):
    schema_version: int = SCHEMA_VERSION


class _ExecutionRef(_Message):
    namespace: str = "default"
    workflow_id: str
    run_id: str
