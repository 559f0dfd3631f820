"""The one place history and the frontend turn a stored schedule spec (its wire form, a JSON
object) into action times. The spec engine itself is `tidal_schema.schedules` (validation, cron,
calendars, intervals, jitter, zones); this module only adapts the stored document to it and
bounds every enumeration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ActionTime", "ScheduleSpecError", "action_times_between", "check_spec", "next_action_times"]


class ScheduleSpecError(ValueError):
    """A spec the engine refuses; `field` names the bad field (as "spec.intervals.0.every")."""

    def __init__(self, message: str, *, field: str = "spec") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, kw_only=True)
class ActionTime:
    nominal: datetime
    actual: datetime


def check_spec(spec: Mapping[str, Any]) -> None:
    """Raise ScheduleSpecError naming the bad field (invalid cron, unknown zone, end before start,
    zero interval)."""
    _parse(spec)


def next_action_times(
    spec: Mapping[str, Any], *, after: datetime, schedule_id: str, limit: int
) -> list[ActionTime]:
    """The first `limit` action times strictly after `after`."""
    from .schedules import next_action_times as engine_next

    times = engine_next(_parse(spec), after=after, schedule_id=schedule_id, limit=limit)
    return [ActionTime(nominal=t.nominal, actual=t.actual) for t in times]


def action_times_between(
    spec: Mapping[str, Any], *, start: datetime, end: datetime, schedule_id: str, limit: int
) -> list[ActionTime]:
    """Action times with nominal time in (start, end], at most `limit` of them."""
    from .schedules import action_times_between as engine_between

    times = engine_between(_parse(spec), start=start, end=end, schedule_id=schedule_id, limit=limit)
    return [ActionTime(nominal=t.nominal, actual=t.actual) for t in times]


def _parse(spec: Mapping[str, Any]) -> Any:
    from pydantic import ValidationError

    from .schedules import ScheduleSpec

    try:
        return ScheduleSpec.model_validate(dict(spec))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(["spec", *(str(p) for p in err["loc"])])
        raise ScheduleSpecError(f"{field}: {err['msg']}", field=field) from None
    except ValueError as exc:
        raise ScheduleSpecError(f"spec: {exc}") from None
