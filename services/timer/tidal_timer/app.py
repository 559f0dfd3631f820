"""Composition root of the timer service."""

from __future__ import annotations

from tidal_server.service import Runtime

from .service import TimerService
from .settings import TimerSettings


def build(runtime: Runtime) -> TimerService:
    return TimerService(runtime, TimerSettings(**runtime.settings_overrides("timer")))
