"""Task-queue rate declarations: worker -> every matching process (docs/task-queue-rates.md).
Part of `tidal_schema.messages` (re-exported there).

A worker built with `max_task_queue_activities_per_second` (temporalio's option) declares that
rate for its task queue when it starts and again every `RATE_DECLARATION_INTERVAL_SECONDS`; a
worker without it declares no rate, which changes no limit but tells a matching process that
(re)started meanwhile that the task queue exists (so tasks it held for a limit are released).
The last declaration with a rate wins, as in Temporal; a rate nobody declared again within
matching's `task_queue_rate_ttl_seconds` lapses."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, StrictFloat, TypeAdapter

from ._message_base import _Message
from .limits import NamespaceName, TaskQueueName, Text

MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND = 1_000_000.0
"""Above any rate matching could dispatch at; a bound so that a hostile value stays a number."""
RATE_DECLARATION_INTERVAL_SECONDS = 10.0
"""How often a running worker declares again (a restarted matching process learns it that late)."""


def check_activities_per_second(value: float) -> float:
    """A rate of activity tasks per second: positive and finite. 0 and negative rates are refused
    (temporalio's Core refuses them for `max_activities_per_second` alike): to pause a task queue,
    stop its workers; for no limit, leave the option unset."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a rate must be a number of activities per second, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a rate must be a positive, finite number of activities per second, not {value}")
    if value > MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND:
        raise ValueError(
            f"a rate must be at most {MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND:g} per second, not {value}"
        )
    return float(value)


ActivitiesPerSecond = Annotated[StrictFloat, AfterValidator(check_activities_per_second)]


class DeclareTaskQueueRate(_Message):
    """A worker's word on its task queue's activity dispatch rate. `activities_per_second` None:
    this worker sets no limit (it leaves any other worker's in place)."""

    type: Literal["DeclareTaskQueueRate"] = "DeclareTaskQueueRate"
    namespace: NamespaceName = "default"
    task_queue: TaskQueueName
    activities_per_second: ActivitiesPerSecond | None = None
    identity: Text = ""


RATE_DECLARATION: TypeAdapter[DeclareTaskQueueRate] = TypeAdapter(DeclareTaskQueueRate)
