"""Replay saved histories against current workflow code, without a server.

A CI job can check that a code change is still deterministic for runs that are in flight: save
histories (`tidal workflow show --output json`, or `WorkflowHandle.fetch_history()` then
`WorkflowHistory.to_json()`), then `await Replayer(workflows=[...]).replay_workflow(history)`.
Mirrors `temporalio.worker.Replayer`; re-exported from `tidal.worker`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidal_schema import HistoryEvent, events
from tidal_schema.messages import WorkflowTask

from . import workflow as _workflow
from ._definitions import lookup as _workflow_lookup
from ._runtime.instance import WorkflowInstance, WorkflowTaskError
from .client import WorkflowHistory
from .converter import DataConverter
from .exceptions import TidalError

__all__ = [
    "ReplayError",
    "Replayer",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
]


class ReplayError(TidalError):
    """A history could not be replayed for a reason other than the workflow code (no events, no
    WorkflowExecutionStarted, a workflow type the replayer does not know)."""


@dataclass(frozen=True, kw_only=True)
class WorkflowReplayResult:
    history: WorkflowHistory
    # The NondeterminismError, or the exception workflow code raised, that failed a workflow task
    # during replay; None when every recorded command matched the code.
    replay_failure: Exception | None


@dataclass(frozen=True, kw_only=True)
class WorkflowReplayResults:
    replay_failures: dict[str, Exception] = field(default_factory=dict)  # run key -> failure


class Replayer:
    def __init__(
        self,
        *,
        workflows: Sequence[type],
        data_converter: DataConverter | None = None,
        namespace: str = "default",
    ) -> None:
        self._workflows: dict[str, _workflow.WorkflowDefinition] = {}
        for cls in workflows:
            defn = _workflow.get_definition(cls)
            self._workflows[defn.name] = defn
        self._converter = data_converter or DataConverter.default
        self._namespace = namespace

    async def replay_workflow(
        self, history: WorkflowHistory, *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResult:
        """Replay one history. Raises the `NondeterminismError` (or the workflow code's error)
        when the code no longer matches the history, unless `raise_on_replay_failure=False`."""
        if self._converter.payload_codec is not None:
            # Saved histories hold what the server stored: codec-encoded payloads.
            events = await self._converter.decode_model(tuple(history.events))
            history = WorkflowHistory(history.workflow_id, events, run_id=history.run_id)
        failure = self._replay(history)
        if failure is not None and raise_on_replay_failure:
            raise failure
        return WorkflowReplayResult(history=history, replay_failure=failure)

    async def replay_workflows(
        self,
        histories: Iterable[WorkflowHistory] | AsyncIterator[WorkflowHistory],
        *,
        raise_on_replay_failure: bool = True,
    ) -> WorkflowReplayResults:
        failures: dict[str, Exception] = {}
        if isinstance(histories, AsyncIterator):
            items = [h async for h in histories]
        else:
            items = list(histories)
        for i, history in enumerate(items):
            result = await self.replay_workflow(history, raise_on_replay_failure=raise_on_replay_failure)
            if result.replay_failure is not None:
                failures[f"{history.workflow_id}#{i}"] = result.replay_failure
            await asyncio.sleep(0)  # a long batch must not starve the caller's loop
        return WorkflowReplayResults(replay_failures=failures)

    def _replay(self, history: WorkflowHistory) -> Exception | None:
        evs = list(history.events)
        if not evs or not isinstance(evs[0].attributes, events.WorkflowExecutionStarted):
            raise ReplayError(
                f"history of {history.workflow_id!r} does not start with WorkflowExecutionStarted"
            )
        started = evs[0].attributes
        defn = _workflow_lookup(self._workflows, started.workflow_type)
        if defn is None:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise ReplayError(
                f"history of {history.workflow_id!r} is of workflow type {started.workflow_type!r}, "
                f"which this replayer was not given (given: {known})"
            )
        if evs[-1].event_type != "WorkflowTaskScheduled":
            # The instance checks each completed task's commands when the *next* task is activated;
            # a synthetic final task makes it check the last one too (its own commands are dropped).
            last = evs[-1]
            evs.append(
                HistoryEvent(
                    event_id=last.event_id + 1,
                    event_time=last.event_time,
                    attributes=events.WorkflowTaskScheduled(task_queue=started.task_queue),
                )
            )
        instance = WorkflowInstance(
            definition=defn,
            namespace=self._namespace,
            workflow_id=history.workflow_id,
            run_id=history.run_id or "replay",
            converter=self._converter,
        )
        task = WorkflowTask(
            namespace=self._namespace,
            workflow_id=history.workflow_id,
            run_id=history.run_id or "replay",
            workflow_type=started.workflow_type,
            task_queue=started.task_queue,
            scheduled_event_id=evs[-1].event_id,
            history_length=len(evs),
            events=tuple(evs),
            history_routing_key="replay",
        )
        try:
            instance.activate(task)
        except WorkflowTaskError as e:
            cause: Any = e.__cause__
            return cause if isinstance(cause, Exception) else e
        return None
