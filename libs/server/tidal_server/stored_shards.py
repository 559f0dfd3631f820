"""The shard count an embedded database file was used with, and the count a server opening it
must run with: a run's shard is `hash % count`, so a file's runs (and their timers, loaded per
shard) are only found again under the count they were written with."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import tables

__all__ = ["ShardCountMismatchError", "shard_count_for", "stored_shard_count"]


class ShardCountMismatchError(ValueError):
    """The operator asked for a shard count other than the one the database was used with."""


async def stored_shard_count(engine: AsyncEngine) -> int | None:
    """The shard count a database was used with: every shard is acquired (a `shards` row) before
    any run is written to it. None for a database no server has used. (A server that died while
    acquiring its first shards could leave fewer rows than its count: pass the count explicitly
    for such a file.)"""
    async with engine.connect() as conn:
        top = await conn.scalar(sa.select(sa.func.max(tables.shards.c.shard_id)))
    return None if top is None else int(top) + 1


def shard_count_for(stored: int | None, requested: int | None, default: int, *, database: str) -> int:
    """Pure: the count to run with. `requested` None: the stored one (`default` for a new file).
    A requested count other than the stored one is refused: run under it, the other shards'
    runs would never be found and their timers never fire."""
    if requested is None:
        return stored or default
    if stored is not None and stored != requested:
        raise ShardCountMismatchError(
            f"{database} was used with {stored} history shards, not the {requested} asked for: "
            f"run with {stored} shards (or leave the shard count unset to use the stored one), "
            "or start a new database"
        )
    return requested
