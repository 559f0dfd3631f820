"""temporalio's V2 time-skipping values (re-exported by `tidal.testing`): what a time-skipping
environment is told (`TimeSkippingConfig`, `FastForwardConfig`) and what it reports
(`TimeSkippingInfo`). The environment itself is in `_time_skipping.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["FastForwardConfig", "TimeSkippingConfig", "TimeSkippingInfo"]


@dataclass(frozen=True)
class FastForwardConfig:
    """Jump `duration` once, then stop skipping (temporalio's; `id` names the jump)."""

    id: str
    duration: timedelta


@dataclass(frozen=True)
class TimeSkippingConfig:
    """How a V2 environment skips (temporalio's fields). `enabled`: jump to the next timer
    whenever the server is idle; `fast_forward_config`: only that far, once;
    `max_session_skip_count`: at most that many jumps, then skipping turns off (0: no bound).
    `disable_propagation` is accepted: with one clock for the engine, children always share it."""

    enabled: bool = True
    fast_forward_config: FastForwardConfig | None = None
    disable_propagation: bool = False
    max_session_skip_count: int = 0

    def __post_init__(self) -> None:
        if not self.enabled and self.fast_forward_config is not None:
            raise ValueError("fast_forward_config cannot be set when enabled is False")


@dataclass(frozen=True)
class TimeSkippingInfo:
    """What `get_time_skipping_info` reports (temporalio's proto of the same name, as values):
    the clock now, how far it has been moved ahead of real time, the config in effect (skipping
    off once a fast-forward or the skip count is used up), and the jumps since skipping began."""

    current_time: datetime
    skipped: timedelta
    effective_config: TimeSkippingConfig
    current_session_skip_count: int = 0
    fast_forward_config: FastForwardConfig | None = field(default=None)
