"""temporalio.worker / exceptions parity (issue 11): activity interceptors, benign application
errors and metric meters, as scenarios run on the embedded server and on the real stack
(tests/e2e/test_worker_parity.py). Each scenario starts its own worker on the task queue it is
given. Converters are in scenarios_converters.py, worker config, slots and plugins in
scenarios_worker_config.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    TemporalError,
)
from tidal.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

# --- activity interceptors --------------------------------------------------------------------


@activity.defn
async def heartbeat_then_echo(text: str) -> str:
    info = activity.info()
    if info.attempt == 1:
        # Heartbeat once, then go silent: history times the attempt out on its heartbeat timeout
        # and the retry sees the details the outbound interceptor sent.
        activity.heartbeat("first")
        await activity.wait_for_cancelled()
    return f"{text} {list(info.heartbeat_details)}"


@activity.defn
async def local_echo(text: str) -> str:
    return f"local {text} {activity.info().activity_type}"


@workflow.defn
class Intercepted:
    @workflow.run
    async def run(self, text: str) -> list[str]:
        remote = await workflow.execute_activity(
            heartbeat_then_echo,
            text,
            start_to_close_timeout=timedelta(seconds=10),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
        local = await workflow.execute_local_activity(
            local_echo, text, start_to_close_timeout=timedelta(seconds=10)
        )
        return [remote, local]


@dataclass
class Recorder(Interceptor):
    """Records every call it sees, upper-cases string arguments and adds a heartbeat detail."""

    name: str
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: Recorder) -> None:
        super().__init__(next)
        self.root = root

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        super().init(_Outbound(outbound, self.root))

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self.root.calls.append(("execute", self.root.name, input.fn.__name__, tuple(input.args)))
        input.args = [a.upper() if isinstance(a, str) else a for a in input.args]
        return await super().execute_activity(input)


class _Outbound(ActivityOutboundInterceptor):
    def __init__(self, next: ActivityOutboundInterceptor, root: Recorder) -> None:
        super().__init__(next)
        self.root = root

    def info(self) -> activity.Info:
        info = super().info()
        self.root.calls.append(("info", self.root.name, info.activity_type, info.attempt))
        return info

    def heartbeat(self, *details: Any) -> None:
        self.root.calls.append(("heartbeat", self.root.name, details))
        super().heartbeat(*details, f"via {self.root.name}")


async def activity_interceptors(client: Client, task_queue: str) -> None:
    """Two interceptors, the first outermost: both see the call, the inner one gets the outer
    one's altered argument; activity.info() and heartbeat() go through both outbound chains, and
    the heartbeat details they add reach history (the retry reads them); local activities go
    through the same chain."""
    outer, inner = Recorder("outer"), Recorder("inner")
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[Intercepted],
        activities=[heartbeat_then_echo, local_echo],
        interceptors=[outer, inner],
    ):
        result = await client.execute_workflow(
            Intercepted.run, "hello", id=f"intercepted-{uuid.uuid4()}", task_queue=task_queue
        )
    # Inbound, the first interceptor is outermost; outbound, the last one wraps the chain last,
    # so the activity's heartbeat reaches `inner` first (as in temporalio).
    assert result == ["HELLO ['first', 'via inner', 'via outer']", "local HELLO local_echo"], result
    executes = [c for c in outer.calls + inner.calls if c[0] == "execute"]
    assert ("execute", "outer", "heartbeat_then_echo", ("hello",)) in executes
    assert ("execute", "inner", "heartbeat_then_echo", ("HELLO",)) in executes
    assert ("execute", "inner", "local_echo", ("HELLO",)) in executes
    assert len(executes) == 6, executes  # two attempts and one local activity, each seen twice
    assert ("heartbeat", "inner", ("first",)) in inner.calls
    assert ("heartbeat", "outer", ("first", "via inner")) in outer.calls
    assert ("info", "outer", "heartbeat_then_echo", 2) in outer.calls
    assert ("info", "inner", "local_echo", 1) in inner.calls


# --- exceptions ---------------------------------------------------------------------------------


@activity.defn
async def out_of_stock(sku: str) -> str:
    raise ApplicationError(
        f"{sku} is out of stock",
        type="OutOfStock",
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


@workflow.defn
class Reserve:
    @workflow.run
    async def run(self, sku: str) -> list[str]:
        try:
            await workflow.execute_activity(out_of_stock, sku, start_to_close_timeout=timedelta(seconds=10))
        except TemporalError as err:  # temporalio's root name catches Tidal's errors
            assert isinstance(err, ActivityError)
            cause = err.cause
            assert isinstance(cause, ApplicationError)
            return [cause.category.name, cause.message, str(cause.args)]
        return ["not raised"]


def _activity_outcomes(task_queue: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for fam in REGISTRY.collect():
        if fam.name != "tidal_worker_activity_tasks":
            continue
        for sample in fam.samples:
            if sample.name.endswith("_total") and sample.labels["task_queue"] == task_queue:
                out[sample.labels["outcome"]] = out.get(sample.labels["outcome"], 0.0) + sample.value
    return out


async def benign_application_errors(client: Client, task_queue: str) -> None:
    """ApplicationError(category=BENIGN) crosses the server with its category (the workflow sees
    it on the activity's cause) and the worker counts the attempt as `benign`, not `failed`."""
    task_queue = f"{task_queue}-{uuid.uuid4().hex[:8]}"  # metrics are per process: a fresh label
    async with Worker(client, task_queue=task_queue, workflows=[Reserve], activities=[out_of_stock]):
        result = await client.execute_workflow(
            Reserve.run, "sku-1", id=f"reserve-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == ["BENIGN", "sku-1 is out of stock", "('sku-1 is out of stock',)"]
    assert _activity_outcomes(task_queue) == {"benign": 1.0}


# --- metric meters ------------------------------------------------------------------------------


@activity.defn
async def metered_activity() -> None:
    meter = activity.metric_meter()
    meter.create_counter("worker_parity_activity_calls", "calls").add(2, {"kind": "test"})
    meter.with_additional_attributes({"kind": "test"}).create_gauge_float("worker_parity_level").set(1.5)


@workflow.defn
class Metered:
    @workflow.run
    async def run(self) -> None:
        meter = workflow.metric_meter()
        meter.create_counter("worker_parity_workflow_runs", "runs").add(1)
        await workflow.execute_activity(metered_activity, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(milliseconds=50))
        meter.create_histogram_timedelta("worker_parity_workflow_wait").record(timedelta(seconds=2))


def _samples(name: str, task_queue: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in REGISTRY.collect():
        for sample in fam.samples:
            if sample.name.endswith("_created"):
                continue
            if sample.name.startswith(name) and sample.labels.get("task_queue") == task_queue:
                labels = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in ("task_queue", "namespace"))
                )
                out[(sample.name, labels)] = sample.value
    return out


async def metric_meters(client: Client, task_queue: str) -> None:
    """workflow.metric_meter() and activity.metric_meter() record into the worker's Prometheus
    registry with temporalio's labels; a worker that caches nothing replays the run's history on
    each of its three workflow tasks, and the workflow's counter still counts the run once."""
    task_queue = f"{task_queue}-{uuid.uuid4().hex[:8]}"  # metrics are per process: a fresh label
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[Metered],
        activities=[metered_activity],
        max_cached_workflows=0,
    ):
        await client.execute_workflow(Metered.run, id=f"metered-{uuid.uuid4()}", task_queue=task_queue)
    wf = (("workflow_type", "Metered"),)
    runs = _samples("worker_parity_workflow_runs", task_queue)
    assert runs == {("worker_parity_workflow_runs_total", wf): 1.0}, runs
    hist = _samples("worker_parity_workflow_wait", task_queue)
    assert hist[("worker_parity_workflow_wait_count", wf)] == 1.0
    assert hist[("worker_parity_workflow_wait_sum", wf)] == 2.0
    act = (("activity_type", "metered_activity"), ("kind", "test"))
    assert _samples("worker_parity_activity_calls", task_queue) == {
        ("worker_parity_activity_calls_total", act): 2.0
    }
    assert _samples("worker_parity_level", task_queue) == {("worker_parity_level", act): 1.5}
