"""Which history shard owns a workflow."""

from __future__ import annotations

import hashlib

DEFAULT_SHARD_COUNT = 16


def shard_for(namespace: str, workflow_id: str, shard_count: int) -> int:
    """Stable across processes and Python versions (unlike `hash()`)."""
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    digest = hashlib.blake2b(f"{namespace}\x00{workflow_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count
