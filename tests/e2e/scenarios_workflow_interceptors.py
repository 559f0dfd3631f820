"""Workflow interceptors (temporalio.worker's WorkflowInbound/OutboundInterceptor, issue 11), as
scenarios run on the embedded server and on the real stack (test_workflow_interceptors.py). Each
scenario starts its own worker with its own interceptors on the task queue it is given."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from tidal import activity, workflow
from tidal.client import (
    Client,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WithStartWorkflowOperation,
)
from tidal.client import Interceptor as ClientInterceptor
from tidal.client import OutboundInterceptor as ClientOutbound
from tidal.common import WorkflowIDConflictPolicy
from tidal.worker import (
    ActivityInboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    Replayer,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from tidal_schema import Payload

T = timedelta(seconds=10)
TRACE = "trace"


def with_interceptors(client: Client, interceptors: list[ClientInterceptor]) -> Client:
    """Another client on the same connection (and worker transport) with client interceptors."""
    return Client(
        http=client._http,
        namespace=client.namespace,
        data_converter=client.data_converter,
        worker_transport=client._worker_transport,
        amqp_url=client._amqp_url,
        interceptors=interceptors,
    )


# --- a tracing pair: the client puts a trace id on the start, the workflow passes it on --------


class ClientTracing(ClientInterceptor):
    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id

    def intercept_client(self, next: ClientOutbound) -> ClientOutbound:
        return _ClientTracingOutbound(next, self.trace_id)


class _ClientTracingOutbound(ClientOutbound):
    def __init__(self, next: ClientOutbound, trace_id: str) -> None:
        super().__init__(next)
        self.trace_id = trace_id

    def _header(self, kind: str) -> Payload:
        return Payload(data=f"{self.trace_id}/{kind}")

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        input.headers = {**input.headers, TRACE: self._header("client")}
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers = {**input.headers, TRACE: self._header("signal")}
        await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        input.headers = {**input.headers, TRACE: self._header("query")}
        return await super().query_workflow(input)


@dataclass
class WorkerTracing(Interceptor):
    """Workflow side: the inbound reads the start's trace header and keeps it (per run: one
    inbound interceptor per run), the outbound puts it on every activity, local activity, child
    and signal; activity side: records the header each activity attempt receives. Records only
    what a first execution does (not replays), so each call is seen once."""

    activity_headers: list[tuple[str, Any]] = field(default_factory=list)
    workflow_headers: list[tuple[str, str, Any]] = field(default_factory=list)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _TracingActivity(next, self)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        assert input.unsafe_extern_functions == {}
        root = self

        class Inbound(_TracingInbound):
            recorder = root

        return Inbound


class _TracingActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: WorkerTracing) -> None:
        super().__init__(next)
        self.root = root

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        header = input.headers.get(TRACE)
        self.root.activity_headers.append((activity.info().activity_type, header.data if header else None))
        return await super().execute_activity(input)


class _TracingInbound(WorkflowInboundInterceptor):
    recorder: WorkerTracing
    trace: Payload | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_TracingOutbound(outbound, self))

    def _record(self, kind: str, headers: Any) -> None:
        if not workflow.unsafe.is_replaying():
            header = headers.get(TRACE)
            self.recorder.workflow_headers.append(
                (workflow.info().workflow_type, kind, header.data if header else None)
            )

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self.trace = input.headers.get(TRACE)
        self._record("execute", input.headers)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        self._record(f"signal:{input.signal}", input.headers)
        await super().handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        assert input.id, "a query has an id"
        header = input.headers.get(TRACE)
        return [await super().handle_query(input), header.data if header else None]


class _TracingOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, inbound: _TracingInbound) -> None:
        super().__init__(next)
        self.inbound = inbound

    def _with_trace(self, headers: Any, hop: str) -> dict[str, Payload]:
        trace = self.inbound.trace
        return {**headers, TRACE: Payload(data=f"{trace.data if trace else None}>{hop}")}

    def start_activity(self, input: StartActivityInput) -> Any:
        input.headers = self._with_trace(input.headers, "activity")
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        input.headers = self._with_trace(input.headers, "local")
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        input.headers = self._with_trace(input.headers, "child")
        return await super().start_child_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        input.headers = self._with_trace(input.headers, "child-signal")
        await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        input.headers = self._with_trace(input.headers, "external-signal")
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        input.headers = self._with_trace(input.headers, "continued")
        super().continue_as_new(input)


@activity.defn
async def traced_echo(text: str) -> str:
    return text


@workflow.defn
class TracedChild:
    def __init__(self) -> None:
        self.poked = False

    @workflow.run
    async def run(self, continued: bool) -> str:
        if continued:
            return "child done"
        await workflow.wait_condition(lambda: self.poked)
        workflow.continue_as_new(True)

    @workflow.signal
    def poke(self) -> None:
        self.poked = True


@workflow.defn
class TracedParent:
    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self) -> list[str]:
        a = await workflow.execute_activity(traced_echo, "remote", start_to_close_timeout=T)
        b = await workflow.execute_local_activity(traced_echo, "local", start_to_close_timeout=T)
        child_id = f"{workflow.info().workflow_id}-child"
        child = await workflow.start_child_workflow(TracedChild.run, False, id=child_id)
        await workflow.wait_condition(lambda: self.released)
        await child.signal(TracedChild.poke)
        c = await child
        return [a, b, c]

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.query
    def state(self) -> str:
        return "released" if self.released else "waiting"


async def tracing_headers(client: Client, task_queue: str) -> None:
    """A client interceptor puts a trace header on the start, the signal and the query; the
    workflow's inbound interceptor sees each one, its outbound interceptor puts the trace on the
    activity, the local activity, the child (which continues as new with it) and the signal to
    the child; the activity interceptor and the child's inbound interceptor see them. Replaying
    the histories with the same interceptors finds no nondeterminism."""
    tracing = WorkerTracing()
    trace_id = f"t-{uuid.uuid4().hex[:8]}"
    traced = with_interceptors(client, [ClientTracing(trace_id)])
    wid = f"traced-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[TracedParent, TracedChild],
        activities=[traced_echo],
        interceptors=[tracing],
    ):
        handle = await traced.start_workflow(TracedParent.run, id=wid, task_queue=task_queue)
        assert await handle.query("state") == ["waiting", f"{trace_id}/query"]
        await handle.signal(TracedParent.release)
        assert await handle.result() == ["remote", "local", "child done"]
    parent = f"{trace_id}/client"
    assert ("traced_echo", f"{parent}>activity") in tracing.activity_headers, tracing.activity_headers
    assert ("traced_echo", f"{parent}>local") in tracing.activity_headers, tracing.activity_headers
    seen = tracing.workflow_headers
    assert ("TracedParent", "execute", parent) in seen, seen
    assert ("TracedParent", "signal:release", f"{trace_id}/signal") in seen, seen
    assert ("TracedChild", "execute", f"{parent}>child") in seen, seen
    # The child's second run starts with the header its continue-as-new carried.
    assert ("TracedChild", "execute", f"{parent}>child>continued") in seen, seen
    assert ("TracedChild", "signal:poke", f"{parent}>child-signal") in seen, seen
    replayer = Replayer(workflows=[TracedParent, TracedChild], interceptors=[WorkerTracing()])
    await replayer.replay_workflow(await handle.fetch_history())
    child = client.get_workflow_handle(f"{wid}-child")
    await replayer.replay_workflow(await child.fetch_history())


# --- counting deliveries and rewriting calls ------------------------------------------------------


@dataclass
class Counting(Interceptor):
    """Counts the signals, queries and updates the workflow receives (first execution only)
    and upper-cases every string argument of the activities the workflow starts."""

    seen: Counter[str] = field(default_factory=Counter)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        root = self

        class Inbound(_CountingInbound):
            counter = root.seen

        return Inbound


class _CountingInbound(WorkflowInboundInterceptor):
    counter: Counter[str]

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_UpperCasing(outbound))

    def _count(self, what: str) -> None:
        if not workflow.unsafe.is_replaying():
            self.counter[what] += 1

    async def handle_signal(self, input: HandleSignalInput) -> None:
        self._count(f"signal:{input.signal}")
        await super().handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        self._count(f"query:{input.query}")
        return await super().handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        self._count(f"validate:{input.update}")
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._count(f"update:{input.update}")
        return await super().handle_update_handler(input)


class _UpperCasing(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> Any:
        input.args = [a.upper() if isinstance(a, str) else a for a in input.args]
        return super().start_activity(input)


@workflow.defn
class Counted:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.closed)
        return [await workflow.execute_activity(traced_echo, i, start_to_close_timeout=T) for i in self.items]

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.query
    def count(self) -> int:
        return len(self.items)

    @workflow.update
    async def close(self) -> int:
        self.closed = True
        return len(self.items)

    @close.validator
    def _close_validator(self) -> None:
        if not self.items:
            raise ValueError("nothing to close")


async def counted_and_rewritten(client: Client, task_queue: str) -> None:
    """Signals, queries, update validations and updates all pass through the inbound chain;
    the outbound chain's rewrite of activity arguments reaches the activity; replaying with the
    same interceptors is deterministic."""
    counting = Counting()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[Counted],
        activities=[traced_echo],
        interceptors=[counting],
    ):
        handle = await client.start_workflow(Counted.run, id=f"counted-{uuid.uuid4()}", task_queue=task_queue)
        await handle.signal(Counted.add, "a")
        await handle.signal(Counted.add, "b")
        queries = 1
        deadline = time.monotonic() + 30
        # A query sees the last completed workflow task: poll until both signals were handled.
        while await handle.query(Counted.count) != 2:
            assert time.monotonic() < deadline, "the signals were never handled"
            queries += 1
            await asyncio.sleep(0.05)
        assert await handle.execute_update(Counted.close) == 2
        assert await handle.result() == ["A", "B"]
    assert counting.seen == Counter(
        {"signal:add": 2, "query:count": queries, "validate:close": 1, "update:close": 1}
    ), counting.seen
    await Replayer(workflows=[Counted], interceptors=[Counting()]).replay_workflow(
        await handle.fetch_history()
    )


# --- an interceptor that fails: the workflow task fails and is retried, nothing is lost -------


@dataclass
class FailsOnce(Interceptor):
    failed: list[str] = field(default_factory=list)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        root = self

        class Inbound(WorkflowInboundInterceptor):
            async def handle_signal(self, input: HandleSignalInput) -> None:
                if not root.failed:
                    root.failed.append(input.signal)
                    raise RuntimeError("interceptor bug")
                await super().handle_signal(input)

        return Inbound


async def failing_signal_interceptor(client: Client, task_queue: str) -> None:
    """A handle_signal that raises fails the workflow task (not the workflow, as in
    temporalio); the retried task delivers the same signal again, which now goes through."""
    interceptor = FailsOnce()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[Counted],
        activities=[traced_echo],
        interceptors=[interceptor],
    ):
        handle = await client.start_workflow(Counted.run, id=f"fails-{uuid.uuid4()}", task_queue=task_queue)
        await handle.signal(Counted.add, "kept")
        assert await handle.execute_update(Counted.close) == 1
        assert await handle.result() == ["kept"]
    assert interceptor.failed == ["add"]
    types = [e.event_type for e in (await handle.fetch_history()).events]
    assert "WorkflowTaskFailed" in types, types
    assert types.count("WorkflowExecutionSignaled") == 1, types
    await Replayer(workflows=[Counted], interceptors=[FailsOnce(failed=["already"])]).replay_workflow(
        await handle.fetch_history()
    )


# --- update headers: client interceptor -> frontend -> history -> the workflow's inbound ---------


class _UpdateTracing(ClientInterceptor):
    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id

    def intercept_client(self, next: ClientOutbound) -> ClientOutbound:
        return _UpdateTracingOutbound(next, self.trace_id)


class _UpdateTracingOutbound(ClientOutbound):
    def __init__(self, next: ClientOutbound, trace_id: str) -> None:
        super().__init__(next)
        self.trace_id = trace_id

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        input.headers = {**input.headers, TRACE: Payload(data=f"{self.trace_id}/update")}
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(self, input: StartWorkflowUpdateWithStartInput) -> Any:
        start, update = input.start_workflow_input, input.update_workflow_input
        start.headers = {**start.headers, TRACE: Payload(data=f"{self.trace_id}/with-start")}
        update.headers = {**update.headers, TRACE: Payload(data=f"{self.trace_id}/with-start-update")}
        return await super().start_update_with_start_workflow(input)


@dataclass
class UpdateHeaders(Interceptor):
    """Records the trace header each update validator and handler call receives, replays too
    (the handler's header on replay comes from WorkflowExecutionUpdateAccepted)."""

    seen: list[tuple[str, str, Any, bool]] = field(default_factory=list)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        root = self

        class Inbound(_UpdateHeadersInbound):
            recorder = root

        return Inbound


class _UpdateHeadersInbound(WorkflowInboundInterceptor):
    recorder: UpdateHeaders

    def _record(self, kind: str, input: HandleUpdateInput) -> None:
        header = input.headers.get(TRACE)
        replaying = workflow.unsafe.is_replaying()
        self.recorder.seen.append((kind, input.update, header.data if header else None, replaying))

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        self._record("validator", input)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        self._record("handler", input)
        return await super().handle_update_handler(input)


@workflow.defn
class HeaderedUpdates:
    def __init__(self) -> None:
        self.values: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.values

    @workflow.update
    def add(self, value: str) -> int:
        self.values.append(value)
        return len(self.values)

    @add.validator
    def check_add(self, value: str) -> None:
        if not value:
            raise ValueError("empty")

    @workflow.update
    def finish(self) -> None:
        self.done = True


async def update_headers(client: Client, task_queue: str) -> None:
    """A client interceptor's update headers (`StartWorkflowUpdateInput.headers`, and the update
    part of an update-with-start) reach the workflow's `handle_update_validator` and
    `handle_update_handler`, and the handler's again when the history is replayed."""
    recorder = UpdateHeaders()
    trace_id = f"u-{uuid.uuid4().hex[:8]}"
    traced = with_interceptors(client, [_UpdateTracing(trace_id)])
    wid = f"update-headers-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[HeaderedUpdates], interceptors=[recorder]):
        op = WithStartWorkflowOperation(
            HeaderedUpdates.run,
            id=wid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        assert (
            await traced.execute_update_with_start_workflow(
                HeaderedUpdates.add, "a", start_workflow_operation=op
            )
            == 1
        )
        handle = await op.workflow_handle()
        plain = client.get_workflow_handle(wid)  # no client interceptor: no header
        assert await plain.execute_update(HeaderedUpdates.add, "b") == 2
        assert await traced.get_workflow_handle(wid).execute_update(HeaderedUpdates.add, "c") == 3
        await traced.get_workflow_handle(wid).execute_update(HeaderedUpdates.finish)
        assert await handle.result() == ["a", "b", "c"]
    live = [(kind, name, header) for kind, name, header, replaying in recorder.seen if not replaying]
    assert live == [
        ("validator", "add", f"{trace_id}/with-start-update"),
        ("handler", "add", f"{trace_id}/with-start-update"),
        ("validator", "add", None),
        ("handler", "add", None),
        ("validator", "add", f"{trace_id}/update"),
        ("handler", "add", f"{trace_id}/update"),
        ("handler", "finish", f"{trace_id}/update"),
    ], recorder.seen
    replayed = UpdateHeaders()
    await Replayer(workflows=[HeaderedUpdates], interceptors=[replayed]).replay_workflow(
        await handle.fetch_history()
    )
    assert [(kind, name, header) for kind, name, header, _ in replayed.seen] == [
        ("handler", "add", f"{trace_id}/with-start-update"),
        ("handler", "add", None),
        ("handler", "add", f"{trace_id}/update"),
        ("handler", "finish", f"{trace_id}/update"),
    ], replayed.seen
