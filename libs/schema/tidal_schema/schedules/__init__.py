"""Schedule specs: the wire models and the pure engine that turns a spec into action times.

No I/O: history calls `next_action_times` on every tick and `action_times_between` for catch-up
and backfill; the SDK and the HTTP API build the models. See docs/schedules.md for the rules.
"""

from .cron import ParsedCron, effective_time_zone, parse_cron
from .engine import (
    MAX_LIMIT,
    MAX_SEARCH_STEPS,
    SEARCH_HORIZON,
    action_times_between,
    next_action_times,
)
from .errors import ScheduleSpecError
from .models import (
    ScheduleCalendarSpec,
    ScheduledTime,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
)
from .zones import load_zone

__all__ = [
    "MAX_LIMIT",
    "MAX_SEARCH_STEPS",
    "SEARCH_HORIZON",
    "ParsedCron",
    "ScheduleCalendarSpec",
    "ScheduleIntervalSpec",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleSpecError",
    "ScheduledTime",
    "action_times_between",
    "effective_time_zone",
    "load_zone",
    "next_action_times",
    "parse_cron",
]
