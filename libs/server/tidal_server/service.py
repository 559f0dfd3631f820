"""What a service is to the process that hosts it (its own process, or the embedded dev server)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .clock import Clock, SystemClock
from .supervision import Health, Supervisor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .bus import Bus


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """The I/O edges a service is composed with; the host owns their lifecycle."""

    bus: Bus
    engine: AsyncEngine
    member_id: str
    shard_count: int
    clock: Clock = field(default_factory=SystemClock)
    embedded: bool = False
    # Settings the host fixes for a service (e.g. the embedded frontend's port), applied over
    # the environment when the service builds its settings class.
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    """Shared by every service of the process: supervised loops report here, /readyz reads it,
    and a fatal failure makes the host exit non-zero."""

    def settings_overrides(self, service: str) -> dict[str, Any]:
        return dict(self.overrides.get(service, {}))

    def supervisor(self, service: str) -> Supervisor:
        """A supervisor for `service`'s long-running loops, reporting to this process's health."""
        return Supervisor(service=service, health=self.health)


ServiceFactory = Callable[[Runtime], Service]
