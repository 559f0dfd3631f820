"""Time zones for schedules: loading a zone by IANA name, and the UTC offsets it applies.

The engine works on whole seconds since the epoch. A zone's offset is constant between two
transitions (DST changes, or a change of standard time), so the engine searches one such segment
at a time, where wall-clock time is just the instant plus a constant. zoneinfo does not expose
its transitions, so they are found by probing the offset once a day and bisecting to the second
where it changes (no zone since 1970 changes twice within one day), cached per zone and year.
"""

from __future__ import annotations

import functools
import zoneinfo
from bisect import bisect_right
from datetime import UTC, datetime, tzinfo

from .errors import ScheduleSpecError

__all__ = ["DAY", "load_zone", "offset_at", "segment_at", "year_start"]

DAY = 86400
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/GMT", "GMT", "Zulu", "Etc/Zulu"})


@functools.lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    # "localtime" is whatever the machine is set to: not a name two servers agree on.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


@functools.lru_cache(maxsize=1024)
def load_zone(name: str | None) -> tzinfo:
    """The zone called `name` (an IANA name; None or "" is UTC). Only names of the installed
    time zone database are accepted, never a path."""
    if not name or name in _UTC_NAMES:
        return UTC
    if name not in _known_zones():
        raise ScheduleSpecError(
            f"unknown time zone {name[:100]!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        )
    return zoneinfo.ZoneInfo(name)


def year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


def offset_at(zone: tzinfo, instant: int) -> int:
    """The zone's UTC offset, in seconds, at `instant` (seconds since the epoch)."""
    if zone is UTC:
        return 0
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


@functools.lru_cache(maxsize=8192)
def _transitions(zone: tzinfo, year: int) -> tuple[int, ...]:
    """The instants in `(start of year, start of next year]` (UTC) at which the offset changes:
    each is the first second of the new offset."""
    start, end = year_start(year), year_start(year + 1)
    found: list[int] = []
    previous = offset_at(zone, start)
    low = start
    while low < end:
        high = min(low + DAY, end)
        current = offset_at(zone, high)
        if current != previous:
            # the first second in (low, high] whose offset differs from `previous`
            lo, hi = low, high
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(zone, mid) == previous:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            previous = current
        low = high
    return tuple(found)


def segment_at(zone: tzinfo, instant: int, limit: int) -> tuple[int, int | None]:
    """The offset in effect at `instant`, and the first instant after it where the offset
    changes, or None if it does not change up to `limit`."""
    offset = offset_at(zone, instant)
    if zone is UTC:
        return offset, None
    year = datetime.fromtimestamp(instant, UTC).year
    last_year = datetime.fromtimestamp(limit, UTC).year
    while year <= last_year:
        changes = _transitions(zone, year)
        index = bisect_right(changes, instant)
        if index < len(changes):
            change = changes[index]
            return offset, (change if change <= limit else None)
        year += 1
    return offset, None
