"""HTTP API keys: format, hashing and the `api_keys` rows (shared by the frontend, which checks
and manages keys, and `tidal-server api-key`, which bootstraps the first admin key).

A key is ``tidal_<key_id>_<secret>``: `key_id` (12 hex characters) is the lookup prefix stored in
clear, `secret` is 32 random bytes (urlsafe base64). Only ``sha256(key)`` is stored: the secret
has 256 bits of entropy, so a fast hash is enough (no password-style stretching needed) and a
database leak reveals no usable key. The full key is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .db.tables import api_keys

ALL_NAMESPACES = "*"
_KEY_RE = re.compile(r"^tidal_([0-9a-f]{12})_([A-Za-z0-9_-]{20,200})$")


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.READER: 1, Role.WRITER: 2, Role.ADMIN: 3}


@dataclass(frozen=True, kw_only=True)
class ApiKeyInfo:
    """A stored key, without its secret."""

    key_id: str
    namespace: str
    role: Role
    description: str
    created_at: datetime | None

    def grants(self, namespace: str, needed: Role) -> bool:
        return self.namespace in (ALL_NAMESPACES, namespace) and self.role.allows(needed)


def generate_key() -> tuple[str, str]:
    """A new key: (key_id, full key)."""
    key_id = secrets.token_hex(6)
    return key_id, f"tidal_{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    m = _KEY_RE.match(key)
    return m.group(1) if m else None


def matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), key_hash)


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        namespace=row.namespace,
        role=Role(row.role),
        description=row.description,
        created_at=row.created_at,
    )


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.namespace,
    api_keys.c.role,
    api_keys.c.description,
    api_keys.c.created_at,
)


async def create_key(
    engine: AsyncEngine, *, namespace: str, role: Role, description: str = ""
) -> tuple[ApiKeyInfo, str]:
    """Store a new key; returns its info and the full key (the only time it is known)."""
    key_id, key = generate_key()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(api_keys).values(
                key_id=key_id,
                key_hash=hash_key(key),
                namespace=namespace,
                role=role.value,
                description=description,
            )
        )
        row = (await conn.execute(sa.select(*_COLUMNS).where(api_keys.c.key_id == key_id))).one()
    return _info(row), key


async def verify_key(engine: AsyncEngine, key: str) -> ApiKeyInfo | None:
    """The stored key `key` is, or None (malformed, unknown, revoked or wrong secret)."""
    key_id = key_id_of(key)
    if key_id is None:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(*_COLUMNS, api_keys.c.key_hash).where(api_keys.c.key_id == key_id))
        ).first()
    if row is None or not matches(key, row.key_hash):
        return None
    return _info(row)


async def list_keys(engine: AsyncEngine, *, namespace: str | None = None) -> list[ApiKeyInfo]:
    query = sa.select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.key_id)
    if namespace is not None:
        query = query.where(api_keys.c.namespace == namespace)
    async with engine.connect() as conn:
        return [_info(r) for r in (await conn.execute(query)).all()]


async def get_key(engine: AsyncEngine, key_id: str) -> ApiKeyInfo | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(*_COLUMNS).where(api_keys.c.key_id == key_id))).first()
    return None if row is None else _info(row)


async def delete_key(engine: AsyncEngine, key_id: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(sa.delete(api_keys).where(api_keys.c.key_id == key_id))
    return bool(result.rowcount)
