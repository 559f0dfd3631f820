"""Replay saved histories against current workflow code, without a server.

A CI job can check that a code change is still deterministic for runs that are in flight: save
histories (`tidal workflow show --output json`, or `WorkflowHandle.fetch_history()` then
`WorkflowHistory.to_json()`), then `await Replayer(workflows=[...]).replay_workflow(history)`.
Mirrors `temporalio.worker.Replayer`; re-exported from `tidal.worker`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tidal_schema import HistoryEvent, events
from tidal_schema.messages import WorkflowTask

from . import workflow as _workflow
from ._definitions import lookup as _workflow_lookup
from ._interceptors import Interceptor, workflow_interceptor_classes
from ._plugins import Plugin
from ._runtime.instance import WorkflowInstance, WorkflowTaskError
from .client import WorkflowHistory
from .converter import DataConverter, WorkflowSerializationContext
from .exceptions import TidalError

__all__ = [
    "ReplayError",
    "Replayer",
    "ReplayerConfig",
    "WorkflowReplayResult",
    "WorkflowReplayResults",
]


class ReplayError(TidalError):
    """A history could not be replayed for a reason other than the workflow code (no events, no
    WorkflowExecutionStarted, a workflow type the replayer does not know)."""


@dataclass(frozen=True)
class WorkflowReplayResult:
    history: WorkflowHistory
    # The NondeterminismError, or the exception workflow code raised, that failed a workflow task
    # during replay; None when every recorded command matched the code.
    replay_failure: Exception | None


@dataclass(frozen=True)
class WorkflowReplayResults:
    replay_failures: dict[str, Exception] = field(default_factory=dict)  # run key -> failure


class ReplayerConfig(TypedDict, total=False):
    """What a `Replayer` was built with (`Replayer.config()`); `Replayer(**config)` builds another."""

    workflows: Sequence[type]
    namespace: str
    data_converter: DataConverter
    interceptors: Sequence[Interceptor]
    workflow_failure_exception_types: Sequence[type[BaseException]]
    debug_mode: bool
    workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None
    identity: str | None
    disable_safe_workflow_eviction: bool


class Replayer:
    def __init__(
        self,
        *,
        workflows: Sequence[type],
        namespace: str = "default",
        data_converter: DataConverter | None = None,
        interceptors: Sequence[Interceptor] = (),
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        debug_mode: bool = False,
        plugins: Sequence[Plugin] = (),
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        identity: str | None = None,
        disable_safe_workflow_eviction: bool = False,
    ) -> None:
        """`workflow_failure_exception_types` as the worker's: which exceptions fail the workflow
        rather than the task, so a replay takes the same path the worker took. `debug_mode` is
        accepted for ported code: the replayer runs workflow code with no deadlock timeout,
        always. `workflow_task_executor`: replay each history on this thread pool, so a long
        replay leaves the caller's event loop free (without one, histories replay inline on
        the loop, between which it yields). `identity` is kept in the config for ported code:
        a replayer sends nothing to a server, so it appears nowhere.
        `disable_safe_workflow_eviction`: as the worker's; after each history the replayed run's
        pending coroutines are cancelled and unwound in the workflow (its `finally` blocks run
        there) unless True, when the run is just dropped."""
        self._config = ReplayerConfig(
            workflows=list(workflows),
            namespace=namespace,
            data_converter=data_converter or DataConverter.default,
            interceptors=list(interceptors),
            workflow_failure_exception_types=list(workflow_failure_exception_types),
            debug_mode=debug_mode,
            workflow_task_executor=workflow_task_executor,
            identity=identity,
            disable_safe_workflow_eviction=disable_safe_workflow_eviction,
        )
        self._plugins = tuple(plugins)
        if self._plugins:  # each plugin configures in turn; the replayer is built from the result
            configured = ReplayerConfig(**self._config)
            for plugin in self._plugins:
                configured = plugin.configure_replayer(configured)
            self.__init__(**configured)  # type: ignore[misc]
            self._plugins = tuple(plugins)
            return
        self._failure_types = tuple(workflow_failure_exception_types)
        self._workflow_interceptors = workflow_interceptor_classes(interceptors)
        self._workflows: dict[str, _workflow.WorkflowDefinition] = {}
        for cls in workflows:
            defn = _workflow.get_definition(cls)
            self._workflows[defn.name] = defn
        self._converter = data_converter or DataConverter.default
        self._namespace = namespace
        self._executor = workflow_task_executor
        self._safe_eviction = not disable_safe_workflow_eviction

    def config(self, *, active_config: bool = False) -> ReplayerConfig:
        """What this replayer was built with (a copy; `active_config` changes nothing: no plugins)."""
        del active_config
        config = ReplayerConfig(**self._config)
        config["workflows"] = list(config.get("workflows", []))
        return config

    def workflow_replay_iterator(
        self, histories: AsyncIterator[WorkflowHistory] | Iterable[WorkflowHistory]
    ) -> AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]]:
        """`async with replayer.workflow_replay_iterator(histories) as results: async for r in
        results: ...`: each history replayed as the iteration reaches it, its failure in
        `r.replay_failure` (never raised). Through the plugins' `run_replayer`."""
        if not self._plugins:
            return self._replay_iterator(histories)
        run: Callable[
            [Replayer, AsyncIterator[WorkflowHistory]],
            AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]],
        ] = Replayer._replay_iterator
        for plugin in reversed(self._plugins):
            run = functools.partial(plugin.run_replayer, next=run)
        return run(self, _as_async(histories))

    def _replay_iterator(
        self, histories: AsyncIterator[WorkflowHistory] | Iterable[WorkflowHistory]
    ) -> AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]]:

        @asynccontextmanager
        async def context() -> AsyncIterator[AsyncIterator[WorkflowReplayResult]]:
            async def results() -> AsyncIterator[WorkflowReplayResult]:
                if isinstance(histories, AsyncIterator):
                    async for history in histories:
                        yield await self._replay_one(history)
                else:
                    for history in histories:
                        yield await self._replay_one(history)
                        await asyncio.sleep(0)  # a long batch must not starve the caller's loop

            yield results()

        return context()

    async def replay_workflow(
        self, history: WorkflowHistory, *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResult:
        """Replay one history. Raises the `NondeterminismError` (or the workflow code's error)
        when the code no longer matches the history, unless `raise_on_replay_failure=False`.
        With plugins, through `workflow_replay_iterator` (so their `run_replayer` sees it)."""
        if self._plugins:
            async with self.workflow_replay_iterator([history]) as results:
                async for result in results:
                    if raise_on_replay_failure and result.replay_failure is not None:
                        raise result.replay_failure
                    return result
            raise ReplayError("a plugin's run_replayer yielded no result")
        result = await self._replay_one(history)
        if result.replay_failure is not None and raise_on_replay_failure:
            raise result.replay_failure
        return result

    async def _replay_one(self, history: WorkflowHistory) -> WorkflowReplayResult:
        if self._converter.payload_codec is not None:
            # Saved histories hold what the server stored: codec-encoded payloads.
            events = await self._converter.decode_model(tuple(history.events))
            history = WorkflowHistory(history.workflow_id, events, run_id=history.run_id)
        if self._executor is None:
            return WorkflowReplayResult(history=history, replay_failure=self._replay(history))
        loop = asyncio.get_running_loop()
        failure = await loop.run_in_executor(self._executor, self._replay, history)
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
            converter=self._converter.with_context(
                WorkflowSerializationContext(namespace=self._namespace, workflow_id=history.workflow_id)
            ),
            failure_exception_types=self._failure_types,
            interceptor_classes=self._workflow_interceptors,
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
        finally:
            if self._safe_eviction:
                instance.evict()
        return None


async def _as_async(
    histories: AsyncIterator[WorkflowHistory] | Iterable[WorkflowHistory],
) -> AsyncIterator[WorkflowHistory]:
    if isinstance(histories, AsyncIterator):
        async for history in histories:
            yield history
    else:
        for history in histories:
            yield history
