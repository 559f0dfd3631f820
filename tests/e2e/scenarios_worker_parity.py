"""temporalio.worker / converter / exceptions / common parity (issue 11), as scenarios run on the
embedded server and on the real stack (tests/e2e/test_worker_parity.py). Each scenario starts its
own worker (they differ in interceptors and converters) on the task queue it is given."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.contrib.encryption import EncryptionCodec
from tidal.converter import (
    ActivitySerializationContext,
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from tidal.exceptions import (
    ActivityError,
    ApplicationError,
    ApplicationErrorCategory,
    TemporalError,
    WorkflowFailureError,
)
from tidal.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Plugin,
    ReplayerConfig,
    Worker,
    WorkerConfig,
    WorkerTuner,
)
from tidal_schema import Payload


def with_converter(client: Client, converter: DataConverter) -> Client:
    """Another client on the same connection (and the same worker transport) with `converter`."""
    return Client(
        http=client._http,
        namespace=client.namespace,
        data_converter=converter,
        worker_transport=client._worker_transport,
        amqp_url=client._amqp_url,
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


# --- custom payload converter, codec and failure converter -----------------------------------

SECRET = "4111-1111-1111-1111"


@dataclass(frozen=True)
class Money:
    cents: int
    currency: str


class MoneyEncoding(EncodingPayloadConverter):
    @property
    def encoding(self) -> str:
        return "money/v1"

    def to_payload(self, value: Any) -> Payload | None:
        if not isinstance(value, Money):
            return None
        return Payload(metadata={"encoding": self.encoding}, data=f"{value.cents} {value.currency}")

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        cents, currency = str(payload.data).split()
        return Money(int(cents), currency)


@dataclass(frozen=True)
class ContextTagged(EncodingPayloadConverter, WithSerializationContext):
    """json/plain that records, per value it encodes, the serialization context it was given."""

    context: SerializationContext | None = None

    @property
    def encoding(self) -> str:
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        if isinstance(value, str) and value.startswith("ctx?"):
            CONTEXTS.append((value, self.context))
        return JSONPlainPayloadConverter().to_payload(value)

    def from_payload(self, payload: Payload, type_hint: Any = None) -> Any:
        return JSONPlainPayloadConverter().from_payload(payload, type_hint)

    def with_context(self, context: SerializationContext) -> ContextTagged:
        return ContextTagged(context)


CONTEXTS: list[tuple[str, SerializationContext | None]] = []


class MoneyConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(BinaryNullPayloadConverter(), MoneyEncoding(), ContextTagged())


@activity.defn
async def charge(amount: Money, card: str) -> Money:
    if card == "declined":
        raise ApplicationError(f"card {card} declined: {SECRET}", type="Declined", non_retryable=True)
    return Money(amount.cents + 30, amount.currency)  # a fee


@workflow.defn
class Checkout:
    @workflow.run
    async def run(self, amount: Money, card: str) -> Money:
        workflow.payload_converter().to_payload("ctx?workflow")
        charged = await workflow.execute_activity(
            charge, args=[amount, card], start_to_close_timeout=timedelta(seconds=10)
        )
        if charged.cents > 10_000:
            raise ApplicationError(f"too expensive for {SECRET}", type="Limit")
        return charged


@activity.defn
async def note_context() -> str:
    return "ctx?activity"


def secure_converter() -> DataConverter:
    return DataConverter(
        payload_converter_class=MoneyConverter,
        payload_codec=EncryptionCodec(keys={"k1": KEY}),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


KEY = os.urandom(32)


async def _raw_history(client: Client, workflow_id: str) -> str:
    return json.dumps(await client._call("GET", client._wf_path(workflow_id, "/history")))


async def custom_converter_and_codec(client: Client, task_queue: str) -> None:
    """temporalio's encryption sample with a custom payload converter: history stores only
    encrypted payloads (values, activity input and result, and, with
    DefaultFailureConverterWithEncodedAttributes, failure messages and stack traces), while the
    worker and the client with the converter see the values and the real error messages."""
    secure = with_converter(client, secure_converter())
    async with Worker(secure, task_queue=task_queue, workflows=[Checkout], activities=[charge]):
        ok = await secure.execute_workflow(
            Checkout.run,
            args=[Money(1000, "EUR"), "4242"],
            id=f"checkout-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        assert ok == Money(1030, "EUR")
        declined = await secure.start_workflow(
            Checkout.run,
            args=[Money(5, "EUR"), "declined"],
            id=f"checkout-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        try:
            await declined.result()
            raise AssertionError("the workflow should have failed")
        except WorkflowFailureError as e:
            activity_error = e.cause
            assert isinstance(activity_error, ActivityError), repr(activity_error)
            app = activity_error.cause
            assert isinstance(app, ApplicationError) and app.type == "Declined"
            assert app.message == f"card declined declined: {SECRET}"
        too_much = await secure.start_workflow(
            Checkout.run,
            args=[Money(20_000, "EUR"), "4242"],
            id=f"checkout-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        try:
            await too_much.result()
            raise AssertionError("the workflow should have failed")
        except WorkflowFailureError as e:
            assert isinstance(e.cause, ApplicationError) and e.cause.message == f"too expensive for {SECRET}"
    for handle in (declined, too_much):
        stored = await _raw_history(client, handle.id)
        assert SECRET not in stored and "EUR" not in stored and "money/v1" not in stored
        assert "Encoded failure" in stored and '"binary/encrypted"' in stored
    # Without the codec the failure still reads, with temporalio's placeholder message.
    plain = with_converter(client, DataConverter(payload_converter_class=MoneyConverter))
    try:
        await plain.get_workflow_handle(too_much.id).result()
        raise AssertionError("the workflow should have failed")
    except WorkflowFailureError as e:
        assert isinstance(e.cause, ApplicationError) and e.cause.message == "Encoded failure"


async def serialization_contexts(client: Client, task_queue: str) -> None:
    """The worker gives context-aware converters the run's WorkflowSerializationContext in
    workflow code and the attempt's ActivitySerializationContext in activities."""
    tagged = with_converter(client, DataConverter(payload_converter_class=MoneyConverter))
    workflow_id = f"contexts-{uuid.uuid4()}"
    async with Worker(tagged, task_queue=task_queue, workflows=[ContextWorkflow], activities=[note_context]):
        await tagged.execute_workflow(ContextWorkflow.run, id=workflow_id, task_queue=task_queue)
    seen = [(v, c) for v, c in CONTEXTS if c is not None and getattr(c, "workflow_id", "") == workflow_id]
    workflow_context = WorkflowSerializationContext(namespace=tagged.namespace, workflow_id=workflow_id)
    assert ("ctx?workflow", workflow_context) in seen
    # The activity's result is encoded by the activity (its context), then returned by the
    # workflow (the run's context).
    activity_contexts = [
        c for v, c in seen if v == "ctx?activity" and isinstance(c, ActivitySerializationContext)
    ]
    assert len(activity_contexts) == 1, seen
    act = activity_contexts[0]
    assert (act.activity_type, act.activity_task_queue, act.workflow_type, act.is_local) == (
        "note_context",
        task_queue,
        "ContextWorkflow",
        False,
    )
    assert ("ctx?activity", workflow_context) in seen


@workflow.defn
class ContextWorkflow:
    @workflow.run
    async def run(self) -> str:
        workflow.payload_converter().to_payload("ctx?workflow")
        return await workflow.execute_activity(note_context, start_to_close_timeout=timedelta(seconds=10))


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


# --- worker attributes, config and slots --------------------------------------------------------

RUNNING: dict[str, int] = {}
PEAK: dict[str, int] = {}


@activity.defn
async def one_at_a_time(key: str) -> str:
    RUNNING[key] = RUNNING.get(key, 0) + 1
    PEAK[key] = max(PEAK.get(key, 0), RUNNING[key])
    try:
        await asyncio.sleep(0.2)  # holds its slot a while (the activity's work, not a wait on the test)
    finally:
        RUNNING[key] -= 1
    return key


@workflow.defn
class Fanout:
    @workflow.run
    async def run(self, key: str, n: int) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(one_at_a_time, key, start_to_close_timeout=timedelta(seconds=30))
                for _ in range(n)
            )
        )
        local = await asyncio.gather(
            *(
                workflow.execute_local_activity(
                    one_at_a_time, f"{key}-local", start_to_close_timeout=timedelta(seconds=30)
                )
                for _ in range(n)
            )
        )
        return len(results) + len(local)


async def worker_slots_and_config(client: Client, task_queue: str) -> None:
    """A fixed tuner with one activity and one local activity slot: four activities scheduled in
    one workflow task (some eager, some through matching) and four local activities run one at a
    time. Worker.config() rebuilds the worker; is_running / is_shutdown follow the lifecycle."""
    key = f"slots-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Fanout],
        activities=[one_at_a_time],
        tuner=WorkerTuner.create_fixed(workflow_slots=2, activity_slots=1, local_activity_slots=1),
    )
    assert not worker.is_running and not worker.is_shutdown and worker.client is client
    async with worker:
        assert worker.is_running and not worker.is_shutdown
        assert await client.execute_workflow(Fanout.run, args=[key, 4], id=key, task_queue=task_queue) == 8
    assert not worker.is_running and worker.is_shutdown
    assert PEAK[key] == 1, PEAK
    assert PEAK[f"{key}-local"] == 1, PEAK
    config = worker.config()
    assert config["tuner"] == WorkerTuner.create_fixed(
        workflow_slots=2, activity_slots=1, local_activity_slots=1
    )
    again = Worker(**config)
    async with again:
        assert (
            await client.execute_workflow(
                Fanout.run, args=[f"{key}-2", 1], id=f"{key}-2", task_queue=task_queue
            )
            == 2
        )


# --- plugins ------------------------------------------------------------------------------------


class QueuePlugin(Plugin):
    """Moves the worker to its own task queue, adds a recording interceptor and wraps run()."""

    def __init__(self, task_queue: str) -> None:
        self.task_queue = task_queue
        self.recorder = Recorder("plugin")
        self.events: list[str] = []

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        return {
            **config,
            "task_queue": self.task_queue,
            "interceptors": [*config.get("interceptors", ()), self.recorder],
        }

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        self.events.append(f"start {worker.task_queue}")
        try:
            await next(worker)
        finally:
            self.events.append("stopped")

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        return config

    def run_replayer(self, replayer: Any, histories: Any, next: Any) -> Any:
        return next(replayer, histories)


async def worker_plugins(client: Client, task_queue: str) -> None:
    """Worker(plugins=[...]): the plugin's configuration is the one the worker runs with (its
    task queue, its interceptor) and its run_worker wraps Worker.run()."""
    plugin = QueuePlugin(f"{task_queue}-by-plugin")
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[Intercepted],
        activities=[heartbeat_then_echo, local_echo],
        plugins=[plugin],
    )
    assert worker.task_queue == plugin.task_queue
    assert worker.config()["task_queue"] == task_queue  # what was given; active_config: what runs
    assert worker.config(active_config=True)["task_queue"] == plugin.task_queue
    running = asyncio.create_task(worker.run())
    try:
        result = await client.execute_workflow(
            Intercepted.run, "hi", id=f"plugin-{uuid.uuid4()}", task_queue=plugin.task_queue
        )
    finally:
        await worker.shutdown()
        await running
    assert result[1] == "local HI local_echo", result
    assert plugin.events == [f"start {plugin.task_queue}", "stopped"]
    assert any(c[0] == "execute" for c in plugin.recorder.calls)


STARTS: dict[str, list[float]] = {}


@activity.defn
async def note_start(key: str) -> None:
    STARTS.setdefault(key, []).append(time.monotonic())


@workflow.defn
class Burst:
    @workflow.run
    async def run(self, key: str, n: int) -> None:
        await asyncio.gather(
            *(
                workflow.execute_activity(note_start, key, start_to_close_timeout=timedelta(seconds=30))
                for _ in range(n)
            )
        )


async def activities_per_second(client: Client, task_queue: str) -> None:
    """max_activities_per_second=5: four activities scheduled together take at least three
    intervals of 0.2 s to start. Checked on the span, not each gap: the limiter paces the
    hand-outs, and an activity body that starts a little late shortens the next gap (0.188 s
    seen on a loaded box); without the limit the span is about 0."""
    key = f"rate-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=task_queue, workflows=[Burst], activities=[note_start], max_activities_per_second=5
    ):
        await client.execute_workflow(Burst.run, args=[key, 4], id=key, task_queue=task_queue)
    starts = sorted(STARTS[key])
    assert len(starts) == 4
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert starts[-1] - starts[0] >= 0.5, gaps
