"""The schedules package's one root exception."""

from __future__ import annotations

__all__ = ["ScheduleSpecError"]


class ScheduleSpecError(ValueError):
    """A schedule spec (or a cron string, or a time zone name) that cannot be used. A ValueError,
    so that pydantic reports it as a validation error of the field it was raised for."""
