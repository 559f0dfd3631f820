"""What every endpoint is composed with: built once by the service (or a test), stored on the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from tidal_server.bus import Bus
from tidal_server.supervision import Health

from .authn import Authenticator
from .namespace_registry import NamespaceRegistry
from .notifications import ClosedWaiters, NotificationListener
from .ratelimit import StartRateLimiter
from .settings import FrontendSettings
from .store import ReadStore


@dataclass(kw_only=True)
class FrontendContext:
    bus: Bus
    engine: AsyncEngine
    settings: FrontendSettings
    shard_count: int
    embedded: bool = False
    waiters: ClosedWaiters = field(default_factory=ClosedWaiters)
    # None until the service starts it: /readyz reports not ready without it.
    listener: NotificationListener | None = None
    health: Health = field(default_factory=Health)
    """The process's: /readyz reports the supervised loops that are down."""
    store: ReadStore = field(init=False)
    namespaces: NamespaceRegistry = field(init=False)
    auth: Authenticator = field(init=False)
    start_limiter: StartRateLimiter | None = field(init=False)

    def __post_init__(self) -> None:
        self.store = ReadStore(self.engine)
        self.namespaces = NamespaceRegistry(self.engine, ttl_seconds=self.settings.namespace_cache_seconds)
        self.auth = Authenticator(self.engine, self.settings)
        rate = self.settings.start_rate_limit_per_second
        self.start_limiter = (
            None
            if rate is None
            else StartRateLimiter(rate_per_second=rate, burst=self.settings.start_rate_limit_burst)
        )


async def _context(request: Request) -> FrontendContext:
    # async although it awaits nothing: FastAPI runs a plain `def` dependency in its thread
    # pool, a thread hop (and GIL hand-off) per use, several per request.
    ctx = request.app.state.tidal
    assert isinstance(ctx, FrontendContext)
    return ctx


Ctx = Annotated[FrontendContext, Depends(_context)]
"""Endpoint parameter type: `async def endpoint(ctx: Ctx, ...)`."""
