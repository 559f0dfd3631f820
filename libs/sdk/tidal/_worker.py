"""`Worker`: its options and lifecycle. It builds its workflow half (`_workflow_worker`) and
activity half (`_activity_worker`), opens its queues (`_worker_queues`), whose deliveries are
routed in slots (`_task_routing`, `_task_slots`), and shuts them down. Mirrors
`temporalio.worker.Worker`; re-exported by `tidal.worker`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from tidal_schema import names
from tidal_schema.limits import check_task_queue_name
from tidal_schema.messages import WorkflowTask

from . import _telemetry as tm
from . import activity as _activity
from . import workflow as _workflow
from ._activity_process import SharedStateManager, check_activity_executor
from ._activity_worker import (
    DEFAULT_HEARTBEAT_THROTTLE,
    MAX_HEARTBEAT_THROTTLE,
    ActivityWorker,
)
from ._completion_publisher import CompletionPublisher
from ._definitions import lookup as workflow_lookup
from ._gc_tuning import freeze_startup_heap
from ._interceptors import Interceptor, client_worker_interceptors
from ._plugins import Plugin, client_worker_plugins, finish_plugin_run, start_plugin_run
from ._runtime import PatchActivationInput
from ._task_queue_rate import check_rate_option
from ._task_routing import TaskRouter
from ._task_slots import TaskSlots
from ._transport import WorkerTransport
from ._tuning import WorkerTuner, resolve_slots
from ._worker_config import WorkerConfig
from ._worker_errors import WorkerError
from ._worker_queues import WorkerQueues
from ._workflow_worker import MAX_EAGER_ACTIVITIES_PER_TASK, WorkflowWorker
from .client import Client

__all__ = ["Worker"]

log = logging.getLogger("tidal.worker")


class Worker:
    _router_class: type[TaskRouter] = TaskRouter
    """What routes the deliveries; a subclass is the seam tests count deliveries at."""
    _publisher_class: type[CompletionPublisher] = CompletionPublisher
    """What publishes the answers; a subclass is the seam tests make publishes fail at."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Callable[..., Any]] = (),
        activity_executor: concurrent.futures.Executor | None = None,
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        interceptors: Sequence[Interceptor] = (),
        identity: str | None = None,
        max_cached_workflows: int = 1000,
        max_concurrent_workflow_tasks: int | None = None,
        max_concurrent_activities: int | None = None,
        max_concurrent_local_activities: int | None = None,
        tuner: WorkerTuner | None = None,
        no_remote_activities: bool = False,
        max_heartbeat_throttle_interval: timedelta = MAX_HEARTBEAT_THROTTLE,
        default_heartbeat_throttle_interval: timedelta = DEFAULT_HEARTBEAT_THROTTLE,
        max_eager_activity_reservations_per_workflow_task: int = MAX_EAGER_ACTIVITIES_PER_TASK,
        max_activities_per_second: float | None = None,
        max_task_queue_activities_per_second: float | None = None,
        graceful_shutdown_timeout: timedelta = timedelta(),
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        debug_mode: bool = False,
        disable_eager_activity_execution: bool = False,
        deadlock_detection_timeout: timedelta | float | None = timedelta(seconds=2),
        metrics_port: int | None = None,
        plugins: Sequence[Plugin] = (),
        plugin_shutdown_timeout: timedelta | None = timedelta(seconds=60),
        shared_state_manager: SharedStateManager | None = None,
        on_fatal_error: Callable[[BaseException], Awaitable[None]] | None = None,
        patch_activation_callback: Callable[[PatchActivationInput], bool] | None = None,
        disable_safe_workflow_eviction: bool = False,
        freeze_heap: bool = True,
        disable_fused_completion: bool = False,
    ) -> None:
        """`metrics_port`: serve Prometheus metrics on http://0.0.0.0:PORT/metrics while the worker
        runs (one port per process: every worker of the process shares the registry).

        `max_task_queue_activities_per_second`: as temporalio's, the most activity tasks per
        second the whole task queue hands out, enforced by matching for every worker of the
        queue (`max_activities_per_second` paces this worker alone). The worker declares it when
        it starts and every 10 s; the last declaration wins, so give every worker of the queue
        the same value; unset, this worker sets no limit. Positive and finite (0 and negative
        rates are refused); it turns this worker's eager activities off, which would bypass
        matching (docs/task-queue-rates.md).

        `disable_eager_activity_execution`: as temporalio's. By default a workflow task that
        schedules activities on this worker's task queue asks history to hand up to
        MAX_EAGER_ACTIVITIES_PER_TASK of them straight back to this worker (its sticky queue)
        while it has free activity slots, skipping matching (docs/performance.md).

        `interceptors`: `tidal.worker.Interceptor`s, first = outermost; the client's interceptors
        that are also worker interceptors come first, as in temporalio.

        Slots: `max_concurrent_*` (100 each by default) or `tuner=WorkerTuner.create_fixed(...)`,
        not both; they are the broker prefetch of each queue. `no_remote_activities`: run only
        local activities (the activity queue is not consumed). The heartbeat throttle and eager
        reservations are temporalio's options of the same names.

        `shared_state_manager`: needed for sync activities on an `activity_executor` that is not
        a thread pool (a `ProcessPoolExecutor`): it carries their heartbeats, cancellation and
        worker shutdown across processes (`SharedStateManager.create_from_multiprocessing`).

        With `plugins`, `async with Worker(...)` runs the worker through their `run_worker` (as
        `run()` does) and, on exit, gives their code after the worker stopped
        `plugin_shutdown_timeout` to finish (None: no limit) before cancelling it.

        `on_fatal_error`: as temporalio's, awaited when `run()` fails (the worker cannot reach its
        broker, or declare or consume its queues), before the shutdown; it cannot stop the
        shutdown, and an exception it raises is logged and ignored. `run()` then raises the
        failure.

        `patch_activation_callback` (experimental in temporalio too): asked, with a
        `PatchActivationInput`, by the first `workflow.patched(id)` of a run executing (not
        replaying) new code; False leaves the patch off for that run (no marker is recorded).

        `disable_safe_workflow_eviction`: as temporalio's, and as little advised. A run leaving
        the cache (full, closed, failed task, shutdown) normally has its pending coroutines
        cancelled and unwound in the workflow's context; with True it is just dropped, and the
        garbage collector closes them later, running `finally` blocks outside the workflow.

        `freeze_heap` (Tidal's): at the first worker's start in the process, collect, freeze what
        is alive and raise the collector's young threshold to 10,000 (`_gc_tuning.py`), as the
        server's processes do; False leaves the collector as it is.

        `disable_fused_completion` (Tidal's): by default the result of an eager activity of a
        run this worker holds carries the next workflow task, which the worker runs itself on
        that result (one message and one history transaction instead of two of each; history
        refuses it when the run moved on, and the worker then replays). True sends the result
        alone, as before (docs/performance.md, "The fused completion ... worker side")."""
        # Every argument, as temporalio's Worker.config() returns them (taken before any other local).
        given = locals()
        config = {k: given[k] for k in WorkerConfig.__annotations__ if k in given}
        self._config: WorkerConfig = WorkerConfig(**config)  # type: ignore[typeddict-item]
        self._config.pop("plugins", None)
        self._initial_config = self._config.copy()
        self._initial_config["plugins"] = list(plugins)
        if not getattr(self, "_plugins_applied", False):  # not again when built from their config
            plugins = (*client_worker_plugins(client), *plugins)
        self._plugins = tuple(plugins)
        if self._plugins:
            # Each plugin configures in turn; the worker is then built from the result.
            configured = self._config.copy()
            for plugin in self._plugins:
                configured = plugin.configure_worker(configured)
            initial = self._initial_config
            self._plugins_applied = True
            self.__init__(**{**configured, "plugins": ()})  # type: ignore[misc]
            self._plugins, self._initial_config, self._config = tuple(plugins), initial, configured
            return
        if not workflows and not activities:
            raise WorkerError("a worker needs at least one workflow or activity")
        try:  # the server refuses such a name at every start: say so before polling nothing
            check_task_queue_name(task_queue)
        except ValueError as exc:
            raise WorkerError(f"task_queue: {exc}") from None
        self._client = client
        self._interceptors = (*client_worker_interceptors(client), *interceptors)
        self.task_queue = task_queue
        self._workflows = {d.name: d for d in (_workflow.get_definition(w) for w in workflows)}
        self._activities = {d.name: d for d in (_activity.get_definition(a) for a in activities)}
        check_activity_executor(self._activities, activity_executor, shared_state_manager)
        self._executor, self._shared_state = activity_executor, shared_state_manager
        self._wf_executor = workflow_task_executor
        self._max_wft, self._max_act, self._max_local = resolve_slots(
            tuner, max_concurrent_workflow_tasks, max_concurrent_activities, max_concurrent_local_activities
        )
        self._remote_activities = not no_remote_activities
        self._heartbeat_throttle = (max_heartbeat_throttle_interval, default_heartbeat_throttle_interval)
        self._max_eager = max_eager_activity_reservations_per_workflow_task
        self._max_cached = max_cached_workflows
        self._failure_types = tuple(workflow_failure_exception_types)
        # debug_mode turns the deadlock timeout off for stepping through workflow code in a debugger.
        timeout = deadlock_detection_timeout
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self._deadlock_seconds = None if debug_mode else seconds
        self.identity = identity or f"{os.getpid()}@{socket.gethostname()}"
        self.sticky_queue = names.sticky_queue(f"{self.identity}-{uuid.uuid4().hex[:8]}")
        self._transport: WorkerTransport | None = None
        self._queues: WorkerQueues | None = None  # from start() on
        self._router: TaskRouter | None = None  # from start() on
        self._stopped = asyncio.Event()
        self._running = asyncio.Event()  # set once start() has its consumers
        self._context_run: asyncio.Task[None] | None = None
        self._started = False
        self._shut_down = False
        self._metrics_port = metrics_port
        self._graceful_shutdown = graceful_shutdown_timeout.total_seconds()
        self._metrics_server: tm.MetricsServer | None = None
        self._workflow_worker: WorkflowWorker | None = None
        self._activity_worker: ActivityWorker | None = None
        self._task_queue_rate = check_rate_option(max_task_queue_activities_per_second)
        # Eager activities only where this worker runs both halves, and never around a task
        # queue rate: that is matching's to enforce.
        self._eager = (
            not disable_eager_activity_execution
            and self._task_queue_rate is None
            and self._remote_activities
            and bool(self._activities)
            and bool(self._workflows)
        )
        self._slots = TaskSlots(
            max_workflow_tasks=self._max_wft,
            max_activities=self._max_act,
            max_activities_per_second=max_activities_per_second,
            eager_activities=self._eager,
        )
        self._stopping = False
        self._on_fatal_error = on_fatal_error
        self._patch_activation_callback = patch_activation_callback
        self._unsafe_eviction = disable_safe_workflow_eviction
        self._freeze_heap = freeze_heap
        self._fused = not disable_fused_completion
        self._eager_client: Client | None = None  # the client whose eager starts it takes

    # --- attributes (temporalio's) ---------------------------------------------------------

    def config(self, *, active_config: bool = False) -> WorkerConfig:
        """What this worker was built with (a copy): `Worker(**config)` builds another.
        `active_config`: the configuration in use (after the plugins, with the current client)."""
        config = (self._config if active_config else self._initial_config).copy()
        config["workflows"], config["activities"] = list(config["workflows"]), list(config["activities"])
        if active_config:
            config["client"] = self._client
        return config

    @property
    def client(self) -> Client:
        return self._client

    @client.setter
    def client(self, value: Client) -> None:
        """Use another client (e.g. with a new API key) for what the worker does next: fetching
        history, converting payloads. The broker connection stays the one the worker started."""
        self._client = value
        if self._workflow_worker is not None:
            self._workflow_worker._client = value

    @property
    def is_running(self) -> bool:
        return self._started

    @property
    def is_shutdown(self) -> bool:
        """Started once and shut down since (and not started again)."""
        return self._shut_down

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Worker:
        if self._plugins:
            self._context_run = await start_plugin_run(self.run(), self._running)
        else:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
        run, self._context_run = self._context_run, None
        if run is not None:
            await finish_plugin_run(run, self._config.get("plugin_shutdown_timeout", timedelta(seconds=60)))

    async def run(self) -> None:
        """Run until `shutdown()`, through the plugins' `run_worker` (the first outermost)."""
        run: Callable[[Worker], Awaitable[None]] = Worker._run
        for plugin in reversed(self._plugins):
            run = functools.partial(plugin.run_worker, next=run)
        await run(self)

    async def _run(self) -> None:
        try:
            await self.start()
            await self._stopped.wait()
        except Exception as exc:
            log.error("worker %s failed, shutting down", self.identity, exc_info=exc)
            await self._report_fatal(exc)
            raise
        finally:
            await self.shutdown()

    async def _report_fatal(self, exc: BaseException) -> None:
        if self._on_fatal_error is None:
            return
        try:
            await self._on_fatal_error(exc)
        except Exception:
            # temporalio's contract: the handler cannot stop the shutdown or replace the failure.
            log.warning("on_fatal_error handler failed", exc_info=True)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._freeze_heap:
            freeze_startup_heap()
        self._shut_down = False
        self._stopping = False
        self._stopped.clear()
        if self._metrics_port is not None:
            self._metrics_server = tm.MetricsServer(self._metrics_port)
        self._transport = t = await self._client._new_worker_transport()
        publisher = self._publisher_class(transport=t, converter=lambda: self._client.data_converter)
        ns = self._client.namespace
        if self._workflows:
            self._workflow_worker = WorkflowWorker(
                client=self._client,
                task_queue=self.task_queue,
                identity=self.identity,
                sticky_queue=self.sticky_queue,
                workflows=self._workflows,
                activities=self._activities,
                activity_executor=self._executor,
                max_concurrent_workflow_tasks=self._max_wft,
                max_cached_workflows=self._max_cached,
                failure_exception_types=self._failure_types,
                deadlock_seconds=self._deadlock_seconds,
                free_eager_slots=self._slots.free_eager_activities,
                transport=t,
                publish_encoded=publisher.publish_encoded,
                interceptors=self._interceptors,
                max_concurrent_local_activities=self._max_local,
                max_eager_activities_per_task=self._max_eager,
                workflow_task_executor=self._wf_executor,
                patch_activation_callback=self._patch_activation_callback,
                disable_safe_eviction=self._unsafe_eviction,
                fused_completion=self._fused,
            )
        if self._activities and self._remote_activities:
            self._activity_worker = ActivityWorker(
                task_queue=self.task_queue,
                activities=self._activities,
                executor=self._executor,
                converter=self._client.data_converter,
                identity=self.identity,
                publish=publisher.publish,
                interceptors=self._interceptors,
                heartbeat_throttle=self._heartbeat_throttle,
                client=self._client,
                shared_state_manager=self._shared_state,
            )
        self._router = router = self._router_class(
            slots=self._slots,
            publisher=publisher,
            converter=lambda: self._client.data_converter,
            workflow_worker=self._workflow_worker,
            activity_worker=self._activity_worker,
        )
        self._queues = queues = WorkerQueues(
            transport=t, router=router, namespace=ns, task_queue=self.task_queue, identity=self.identity
        )
        if self._workflow_worker is not None:
            # The sticky queue also brings eager activities: room for those besides the tasks.
            await queues.open_workflow_queues(
                sticky_queue=self.sticky_queue,
                prefetch=self._max_wft,
                sticky_prefetch=self._max_wft + (self._max_act if self._eager else 0),
            )
        if self._activity_worker is not None:
            await queues.open_activity_queues(
                self._activity_worker, prefetch=self._max_act, rate=self._task_queue_rate
            )
        if self._workflows:
            self._eager_client = self._client
            self._client._eager_workers.add(self)
        self._running.set()
        log.info("worker %s polling task queue %r", self.identity, self.task_queue)

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        self._running.clear()
        self._stopping = True
        router = self._router
        if router is not None:
            router.stopping = True
        if self._eager_client is not None:
            self._eager_client._eager_workers.discard(self)
            self._eager_client = None
        if self._queues is not None:
            await self._queues.close()
            self._queues = None
        if self._activity_worker is not None:
            self._activity_worker.begin_shutdown()
        if router is not None and router.tasks:
            # As temporalio: running activities get `graceful_shutdown_timeout` to finish, then
            # are cancelled and fail retryably ("Worker shutdown") so another worker runs them.
            _, running = await asyncio.wait(router.tasks, timeout=self._graceful_shutdown)
            if running and self._activity_worker is not None:
                self._activity_worker.cancel_running()
            await asyncio.gather(*router.tasks, return_exceptions=True)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        if self._workflow_worker is not None:
            self._workflow_worker.close()
            self._workflow_worker = None
            if router is not None:
                router.workflow_worker = None
        if self._metrics_server is not None:
            self._metrics_server.close()
            self._metrics_server = None
        self._shut_down = True
        self._stopped.set()

    # --- eager workflow start (the client's side: _eager_start.py) -------------------------

    def reserve_eager_slot(self, workflow_type: str) -> bool:
        if not self._started or self._stopping or self._workflow_worker is None:
            return False
        if workflow_lookup(self._workflows, workflow_type) is None:
            return False
        return self._slots.reserve_workflow_task()

    def release_eager_slot(self) -> None:
        self._slots.release_workflow_task()

    def run_eager_task(self, task: WorkflowTask) -> None:
        """Run an eager start's first task in the slot reserved for it, as a delivered one."""
        if self._router is None:  # never started: nothing can run it (history times it out)
            self._slots.release_workflow_task()
            return
        self._router.run_eager_task(task)
