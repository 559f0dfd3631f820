"""API-key authentication (no FastAPI here: `auth.py` holds the route dependencies).

Off by default (dev mode, embedded, tests): every request then acts as an admin of every
namespace. With `TIDAL_AUTH_ENABLED=true` each request needs a key; a key grants its role
(reader < writer < admin) on its namespace, or on every namespace for "*". Verified keys are
cached for `auth_cache_seconds`, so a key revoked on another frontend stops working within that
time (at once on the frontend that revoked it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.apikeys import ALL_NAMESPACES, Role, verify_key

from .problems import Problem
from .settings import FrontendSettings


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: `key_id` None is the bootstrap key or auth switched off."""

    key_id: str | None
    namespace: str
    role: Role

    def grants(self, namespace: str, needed: Role) -> bool:
        return self.namespace in (ALL_NAMESPACES, namespace) and self.role.allows(needed)


UNRESTRICTED = Principal(key_id=None, namespace=ALL_NAMESPACES, role=Role.ADMIN)


def unauthenticated(detail: str) -> Problem:
    problem = Problem("unauthenticated", detail)
    problem.headers = {"WWW-Authenticate": 'Bearer realm="tidal"'}
    return problem


class Authenticator:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: FrontendSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self.enabled = settings.auth_enabled
        self._ttl = settings.auth_cache_seconds
        self._now = monotonic
        bootstrap = settings.auth_bootstrap_key
        self._bootstrap_hash = (
            hashlib.sha256(bootstrap.get_secret_value().encode()).digest() if bootstrap else None
        )
        # sha256(key) -> (expiry, principal or None for a refused key)
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def authenticate(self, key: str | None) -> Principal:
        if not self.enabled:
            return UNRESTRICTED
        if not key:
            raise unauthenticated("this server requires an API key: send 'Authorization: Bearer <key>'")
        digest = hashlib.sha256(key.encode()).digest()
        if self._bootstrap_hash is not None and hmac.compare_digest(digest, self._bootstrap_hash):
            return UNRESTRICTED
        now = self._now()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            info = await verify_key(self._engine, key)
            principal = (
                None
                if info is None
                else Principal(key_id=info.key_id, namespace=info.namespace, role=info.role)
            )
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, principal)
        if principal is None:
            raise unauthenticated("the API key is unknown, revoked or malformed")
        return principal

    def forget(self, key_id: str) -> None:
        """A key was revoked here: stop accepting it at once."""
        for digest, (_, principal) in list(self._cache.items()):
            if principal is not None and principal.key_id == key_id:
                del self._cache[digest]
