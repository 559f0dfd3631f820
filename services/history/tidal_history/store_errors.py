"""The history store's exceptions (store.py, schedule_store.py)."""

from __future__ import annotations

__all__ = ["ShardLostError", "StoreError", "VersionConflictError"]


class StoreError(Exception):
    """Root of history store errors."""


class ShardLostError(StoreError):
    """The shard's range_id moved on: another history process owns it now."""

    def __init__(self, shard_id: int) -> None:
        super().__init__(f"shard {shard_id} is owned by another history process")
        self.shard_id = shard_id


class VersionConflictError(StoreError):
    """A run changed underneath us (only possible after an ownership change)."""
