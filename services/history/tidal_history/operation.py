"""What every history operation is given, and how the operation table describes one.

Every message history consumes is handled by one pure function `handle(ctx, msg) -> Outcome`
(one module per operation under `api/`; schedules return a `ScheduleOutcome`), listed in one
table (`dispatch.OPERATIONS`). The entry says what the operation needs (`Load`); the working set
(working_set.py) preloads exactly that into a frozen `OperationContext` before calling it, and
records what comes back. So no operation does I/O, and none is a special branch of the shard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from tidal_schema import HistoryEvent, WorkflowExecutionStatus
from tidal_schema.limits import MAX_PAYLOAD_BYTES
from tidal_schema.schedule_document import ScheduleDocument

from .mutation import Outcome
from .schedule_mutation import ScheduleOutcome
from .state import MutableState

__all__ = ["CurrentRun", "Handler", "Load", "Operation", "OperationContext", "OperationError"]


class OperationError(Exception):
    """An operation was called without what its table entry promised it (a programming error)."""


@dataclass(frozen=True, kw_only=True)
class CurrentRun:
    """The `current_executions` row for the workflow id, if any."""

    run_id: str
    status: WorkflowExecutionStatus
    start_request_id: str


@dataclass(frozen=True, kw_only=True)
class OperationContext:
    """What the shard preloaded for one message. The fields are fixed for the call; the run's
    state is the working (cached) document, which the transition mutates in place (see
    WorkingSet._working for why that is safe)."""

    now: datetime
    shard_id: int = 0
    state: MutableState | None = None
    """The run the message addresses (by run id, else the workflow id's current run); for
    `Load.CURRENT_RUN`, the current run. None: no such run."""
    history: Sequence[HistoryEvent] = ()
    """That run's events so far."""
    current: CurrentRun | None = None
    """The workflow id's current run as the batch sees it (a run started earlier in the batch
    counts); `Load.CURRENT` and `Load.CURRENT_RUN` only."""
    new_run_id: str = ""
    """The id a run (or a schedule incarnation) started by this operation gets."""
    retention: timedelta | None = None
    """The namespace's retention as configured now (`Operation.retention` only)."""
    schedule: ScheduleDocument | None = None
    """The schedule the message addresses (`Load.SCHEDULE`); None: no such schedule."""
    blob_size: int = MAX_PAYLOAD_BYTES
    """History's blob size limit as configured (`TIDAL_BLOB_SIZE_LIMIT`), for the operations that
    check a size themselves (a heartbeat's details)."""

    @property
    def seen_current(self) -> CurrentRun | None:
        """The current run as this batch sees it: from its loaded state when there is one (it may
        have closed earlier in the same batch), else the pointer."""
        st = self.state
        if st is None:
            return self.current
        return CurrentRun(run_id=st.run_id, status=st.status, start_request_id=st.start_request_id)

    @property
    def run(self) -> MutableState:
        """The run, for operations whose entry never calls them without one."""
        if self.state is None:
            raise OperationError("the operation needs a run and none was loaded")
        return self.state

    def for_run(self, state: MutableState | None, history: Sequence[HistoryEvent]) -> OperationContext:
        """The same call's context for another run (an operation built on another one)."""
        return OperationContext(
            now=self.now,
            shard_id=self.shard_id,
            state=state,
            history=history,
            current=self.current,
            new_run_id=self.new_run_id,
            retention=self.retention,
            schedule=self.schedule,
        )


class Load(Enum):
    """What the shard preloads for an operation."""

    RUN = "run"
    """The run by the message's run id, else the workflow id's current run."""
    CURRENT = "current"
    """The workflow id's current run pointer, and a new run id (starts)."""
    CURRENT_RUN = "current_run"
    """As CURRENT, plus the current run's state and history (a start that may terminate it,
    signal- and update-with-start)."""
    SCHEDULE = "schedule"
    """The schedule by (namespace, schedule id), and a new incarnation id in `new_run_id`."""


# `Any`: each operation takes its own message type; the table pairs them (dispatch.py).
Handler = Callable[[OperationContext, Any], Outcome | ScheduleOutcome]


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One entry of the operation table."""

    handle: Handler
    load: Load = Load.RUN
    answers_missing: bool = False
    """Called without a run (ctx.state None) when there is none: client requests by workflow id
    answer "not found" themselves. Otherwise a message for a missing run is stale and ignored."""
    limits: bool = False
    """The message's payloads are held to the blob size limit first, and the run to the history
    limits after (limits.py, limit_guards.py)."""
    retention: bool = False
    """Preload the namespace's retention. The outcome may purge the run; a successor it made
    would not become the workflow id's current run (an old run's check must not move it)."""
