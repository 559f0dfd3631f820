"""Operator side of search attributes: register a name's type ahead of first use (the only way
to get a Text attribute), and list what a namespace has.

    tidal-server search-attribute add --name Note --type Text [--namespace default]
    tidal-server search-attribute list [--namespace default]

Registration writes `search_attribute_defs` directly, like `tidal-server migrate` writes the
schema: it is an administrative step, not a workflow state change, so it does not go through
history. A type cannot be changed once registered (the stored values would disagree with it).
"""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import tables as t
from .attributes import (
    BUILTIN_ATTRIBUTES,
    SYSTEM_ATTRIBUTES,
    SearchAttributeType,
    SearchAttributeValueError,
    check_name,
)

defs = t.search_attribute_defs


async def register(engine: AsyncEngine, namespace: str, name: str, kind: SearchAttributeType) -> bool:
    """True if registered now, False if it already was (with the same type); raises
    SearchAttributeValueError for a bad name or a different existing type."""
    check_name(name)
    async with engine.begin() as conn:
        query = sa.select(defs.c.type).where(defs.c.namespace == namespace, defs.c.name == name)
        existing = (await conn.execute(query)).scalar_one_or_none()
        if existing is not None:
            if existing != kind.value:
                raise SearchAttributeValueError(
                    f"search attribute {name!r} is already registered as {existing} in namespace "
                    f"{namespace!r}; a type cannot change"
                )
            return False
        await conn.execute(sa.insert(defs).values(namespace=namespace, name=name, type=kind.value))
        return True


async def registered(engine: AsyncEngine, namespace: str) -> dict[str, SearchAttributeType]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(defs.c.name, defs.c.type).where(defs.c.namespace == namespace).order_by(defs.c.name)
        )
        return {r.name: SearchAttributeType(r.type) for r in rows}


async def run_command(args: argparse.Namespace) -> int:
    """`tidal-server search-attribute add|list` (parsed in tidal_server.visibility_cli)."""
    from ..db import check_schema_engine, create_engine
    from ..settings import CommonSettings

    settings = CommonSettings(database_url=args.database_url) if args.database_url else CommonSettings()
    engine = create_engine(settings.database_url)
    try:
        await check_schema_engine(engine)
        if args.action == "add":
            try:
                new = await register(engine, args.namespace, args.name, SearchAttributeType(args.type))
            except SearchAttributeValueError as exc:
                print(f"tidal-server: error: {exc}", file=sys.stderr)
                return 1
            state = "registered" if new else "already registered"
            print(f"{args.name} ({args.type}) {state} in namespace {args.namespace!r}")
            return 0
        for name, attr in SYSTEM_ATTRIBUTES.items():
            print(f"{name:24} {attr.type.value:9} system")
        for name, kind in BUILTIN_ATTRIBUTES.items():
            print(f"{name:24} {kind.value:9} built-in")
        for name, kind in (await registered(engine, args.namespace)).items():
            print(f"{name:24} {kind.value:9} custom")
        return 0
    finally:
        await engine.dispose()
