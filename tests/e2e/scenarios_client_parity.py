"""temporalio client code that must port by changing imports (issue 11, the `client` module):
client interceptors with headers, `terminate(*args)` details, query reject conditions,
`fetch_history_events` with the close-event filter, `get_update_handle_for`, `Client.config()`.
Run embedded and on the real stack by tests/e2e/test_client_parity.py."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from tidal import worker as tidal_worker
from tidal import workflow
from tidal.client import (
    Client,
    ClientConfig,
    CreateScheduleInput,
    HttpConnectConfig,
    Interceptor,
    OutboundInterceptor,
    Plugin,
    QueryWorkflowInput,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
    SignalWorkflowInput,
    StartWorkflowInput,
    WorkflowContinuedAsNewError,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryRejectedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from tidal.common import (
    Priority,
    QueryRejectCondition,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from tidal.converter import DataConverter
from tidal_schema import WorkflowExecutionStatus

from tests.support.stack import wait_for

TASK_QUEUE = "e2e-client-parity"
DEADLINE = 60.0


@workflow.defn
class Waiter:
    """Runs until signalled `finish`; answers the query `count` and the update `bump`."""

    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def current(self) -> int:
        return self.count

    @workflow.query
    def tenant(self) -> str | None:
        """The `tenant` start header as the workflow sees it (`workflow.info().headers`)."""
        header = workflow.info().headers.get("tenant")
        return None if header is None else str(header.data)

    @workflow.update
    def bump(self, by: int) -> int:
        self.count += by
        return self.count

    @workflow.update
    async def bump_later(self, by: int) -> int:
        await workflow.wait_condition(lambda: self.done)
        self.count += by
        return self.count


@workflow.defn
class Continuer:
    """Continues as new once, then returns the run number."""

    @workflow.run
    async def run(self, runs: int) -> int:
        if runs == 0:
            workflow.continue_as_new(1)
        return runs


WORKFLOWS = [Waiter, Continuer]


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, root: CountingInterceptor) -> None:
        super().__init__(next)
        self._root = root

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any]:
        self._root.calls["start_workflow"] += 1
        input.headers = {**input.headers, "tenant": await self._root.payload("acme")}
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._root.calls["signal_workflow"] += 1
        input.headers = {**input.headers, "tenant": await self._root.payload("acme-signal")}
        await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self._root.calls["query_workflow"] += 1
        return await super().query_workflow(input)

    async def describe_workflow(self, input: Any) -> Any:
        self._root.calls["describe_workflow"] += 1
        return await super().describe_workflow(input)

    async def start_workflow_update(self, input: Any) -> Any:
        self._root.calls["start_workflow_update"] += 1
        return await super().start_workflow_update(input)

    def fetch_workflow_history_events(self, input: Any) -> Any:
        self._root.calls["fetch_workflow_history_events"] += 1
        return super().fetch_workflow_history_events(input)

    async def create_schedule(self, input: CreateScheduleInput) -> Any:
        self._root.calls["create_schedule"] += 1
        return await super().create_schedule(input)

    async def trigger_schedule(self, input: Any) -> None:
        self._root.calls["trigger_schedule"] += 1
        await super().trigger_schedule(input)

    async def describe_schedule(self, input: Any) -> Any:
        self._root.calls["describe_schedule"] += 1
        return await super().describe_schedule(input)

    async def delete_schedule(self, input: Any) -> None:
        self._root.calls["delete_schedule"] += 1
        await super().delete_schedule(input)


class CountingInterceptor(Interceptor):
    """Counts the calls it sees and adds a `tenant` header to starts and signals."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def payload(self, value: str) -> Any:
        return (await DataConverter.default.encode([value]))[0]

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self)


async def _history_value(payload: Any) -> Any:
    return (await DataConverter.default.decode([payload], [None]))[0]


async def interceptor_counts_and_adds_headers(client: Client, task_queue: str) -> None:
    counting = CountingInterceptor()
    intercepted = Client(**{**client.config(), "interceptors": [counting]})
    assert list(intercepted.config()["interceptors"]) == [counting]
    handle = await intercepted.start_workflow(Waiter.run, id=f"icpt-{uuid.uuid4()}", task_queue=task_queue)
    assert await handle.execute_update(Waiter.bump, 2) == 2
    assert await handle.query(Waiter.current) == 2
    await handle.describe()
    # The workflow itself sees the header an interceptor added to the start.
    assert await client.get_workflow_handle(handle.id).query(Waiter.tenant) == "acme"
    await handle.signal(Waiter.finish)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == 2
    history = await handle.fetch_history()
    assert counting.calls == Counter(
        start_workflow=1,
        start_workflow_update=1,
        query_workflow=1,
        describe_workflow=1,
        signal_workflow=1,
        fetch_workflow_history_events=1,
    ), counting.calls
    started = history.events[0].attributes
    assert started.type == "WorkflowExecutionStarted"
    assert await _history_value(started.header["tenant"]) == "acme"
    signaled = [e.attributes for e in history.events if e.attributes.type == "WorkflowExecutionSignaled"]
    assert [await _history_value(s.header["tenant"]) for s in signaled] == ["acme-signal"]  # type: ignore[union-attr]
    # The client without interceptors is unchanged: no header, no count.
    plain = await client.start_workflow(Waiter.run, id=f"plain-{uuid.uuid4()}", task_queue=task_queue)
    await plain.signal(Waiter.finish)
    await asyncio.wait_for(plain.result(), DEADLINE)
    assert (await plain.fetch_history()).events[0].attributes.header == {}  # type: ignore[union-attr]
    assert await plain.query(Waiter.tenant) is None
    assert counting.calls["start_workflow"] == 1


async def terminate_records_details(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(Waiter.run, id=f"term-{uuid.uuid4()}", task_queue=task_queue)
    await handle.terminate("first detail", 2, reason="operator said so")
    last = (await handle.fetch_history()).events[-1].attributes
    assert last.type == "WorkflowExecutionTerminated"
    assert last.reason == "operator said so"  # type: ignore[union-attr]
    details = await DataConverter.default.decode(list(last.details), [None, None])  # type: ignore[union-attr]
    assert details == ["first detail", 2]


async def query_reject_conditions(client: Client, task_queue: str) -> None:
    done = await client.start_workflow(Waiter.run, id=f"qr-done-{uuid.uuid4()}", task_queue=task_queue)
    # A running run is queried whatever the condition.
    assert await done.query(Waiter.current, reject_condition=QueryRejectCondition.NOT_OPEN) == 0
    await done.execute_update(Waiter.bump, 5)
    await done.signal(Waiter.finish)
    await asyncio.wait_for(done.result(), DEADLINE)
    try:
        await done.query(Waiter.current, reject_condition=QueryRejectCondition.NOT_OPEN)
        raise AssertionError("a closed run was queried despite NOT_OPEN")
    except WorkflowQueryRejectedError as err:
        assert err.status is WorkflowExecutionStatus.COMPLETED
    # Completed cleanly: NOT_COMPLETED_CLEANLY lets the query through (the worker replays).
    assert await done.query(Waiter.current, reject_condition=QueryRejectCondition.NOT_COMPLETED_CLEANLY) == 5
    assert await done.query(Waiter.current) == 5
    ended = await client.start_workflow(Waiter.run, id=f"qr-term-{uuid.uuid4()}", task_queue=task_queue)
    await ended.terminate(reason="ended")
    strict = Client(
        **{
            **client.config(),
            "default_workflow_query_reject_condition": QueryRejectCondition.NOT_COMPLETED_CLEANLY,
        }
    )
    try:
        await strict.get_workflow_handle(ended.id).query(Waiter.current)
        raise AssertionError("a terminated run was queried despite NOT_COMPLETED_CLEANLY")
    except WorkflowQueryRejectedError as err:
        assert err.status is WorkflowExecutionStatus.TERMINATED


async def history_events_and_close_event(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(Waiter.run, id=f"hist-{uuid.uuid4()}", task_queue=task_queue)
    await handle.execute_update(Waiter.bump, 1)

    async def close_events() -> list[Any]:
        it = handle.fetch_history_events(
            wait_new_event=True, event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        )
        return [e async for e in it]

    waiting = asyncio.create_task(close_events())
    await handle.signal(Waiter.finish)
    closing = await asyncio.wait_for(waiting, DEADLINE)
    assert [e.attributes.type for e in closing] == ["WorkflowExecutionCompleted"]
    # Small pages give the same events as one fetch.
    everything = (await handle.fetch_history()).events
    paged = [e async for e in handle.fetch_history_events(page_size=2)]
    assert [e.event_id for e in paged] == [e.event_id for e in everything]
    assert paged[-1].event_id == closing[0].event_id


async def update_handle_for(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(Waiter.run, id=f"uhf-{uuid.uuid4()}", task_queue=task_queue)
    sent = await handle.start_update(
        Waiter.bump, 3, id="bump-1", wait_for_stage=WorkflowUpdateStage.COMPLETED
    )
    again = handle.get_update_handle_for(Waiter.bump, sent.id)
    assert await again.result() == 3
    await handle.signal(Waiter.finish)
    assert await asyncio.wait_for(handle.result(), DEADLINE) == 3


async def result_without_following_runs(client: Client, task_queue: str) -> None:
    """temporalio raises WorkflowContinuedAsNewError naming the next run; Tidal raised
    WorkflowFailureError("workflow continuedasnew") before."""
    first = await client.start_workflow(Continuer.run, 0, id=f"can-{uuid.uuid4()}", task_queue=task_queue)
    assert await asyncio.wait_for(first.result(), DEADLINE) == 1  # follows the chain
    try:
        await first.result(follow_runs=False)
        raise AssertionError("result(follow_runs=False) of a continued run returned")
    except WorkflowContinuedAsNewError as err:
        latest = await client.get_workflow_handle(first.id).describe()
        assert err.new_execution_run_id == latest.run_id != first.run_id


async def update_wait_runs_out(client: Client, task_queue: str) -> None:
    handle = await client.start_workflow(Waiter.run, id=f"upd-to-{uuid.uuid4()}", task_queue=task_queue)
    try:
        await handle.execute_update(Waiter.bump_later, 1, rpc_timeout=timedelta(seconds=0.5))
        raise AssertionError("the update returned before the workflow let it")
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        assert err.status == "deadline_exceeded"  # still an RPCError for code that checks that
    await handle.signal(Waiter.finish)
    await asyncio.wait_for(handle.result(), DEADLINE)


async def execution_memo_and_listing(client: Client, task_queue: str) -> None:
    """describe()/list_workflows() carry temporalio's fields: memo(), memo_value(), namespace,
    raw_info; the list iterator pages with `fetch_next_page(page_size=)` and maps histories."""
    tag = uuid.uuid4().hex[:8]
    handle = await client.start_workflow(
        Waiter.run, id=f"memo-{tag}", task_queue=task_queue, memo={"owner": "ops", "n": 3}
    )
    d = await handle.describe()
    assert d.namespace == client.namespace and d.raw_info["workflow_id"] == handle.id
    assert await d.memo() == {"owner": "ops", "n": 3}
    assert await d.memo_value("n", type_hint=int) == 3
    assert await d.memo_value("absent", "fallback") == "fallback"
    try:
        await d.memo_value("absent")
        raise AssertionError("memo_value without default found an absent key")
    except KeyError:
        pass
    assert d.data_converter is client.data_converter
    await handle.signal(Waiter.finish)
    await asyncio.wait_for(handle.result(), DEADLINE)
    listing = client.list_workflows(f"WorkflowId = 'memo-{tag}'")
    await listing.fetch_next_page(page_size=1)
    assert listing.current_page is not None and listing.current_page_index == 0
    [listed] = listing.current_page
    assert await listed.memo_value("owner") == "ops" and listed.namespace == client.namespace
    histories = [h async for h in client.list_workflows(f"WorkflowId = 'memo-{tag}'").map_histories()]
    assert [h.workflow_id for h in histories] == [handle.id]
    assert histories[0].events[-1].attributes.type == "WorkflowExecutionCompleted"


STAGE = SearchAttributeKey.for_keyword("ClientParityStage")


async def schedule_action_fields(client: Client, task_queue: str) -> None:
    """A schedule's runs get its action's typed search attributes, static summary and details,
    priority and headers; the schedule calls go through the client's interceptors."""
    counting = CountingInterceptor()
    intercepted = Client(**{**client.config(), "interceptors": [counting]})
    sid = f"sched-{uuid.uuid4().hex[:8]}"
    action = ScheduleActionStartWorkflow(
        Waiter.run,
        id=f"{sid}-wf",
        task_queue=task_queue,
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(STAGE, "nightly")]),
        static_summary="the nightly run",
        static_details="started by a schedule",
        priority=Priority(priority_key=2),
        headers={"tenant": await counting.payload("acme-schedule")},
    )
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])
    handle = await intercepted.create_schedule(
        sid, Schedule(action=action, spec=spec, state=ScheduleState(paused=True))
    )
    described = (await handle.describe()).schedule.action
    assert isinstance(described, ScheduleActionStartWorkflow)
    assert described.static_summary == "the nightly run" and described.priority == Priority(priority_key=2)
    assert described.typed_search_attributes.get(STAGE) == "nightly"
    assert await _history_value(described.headers["tenant"]) == "acme-schedule"
    await handle.trigger()
    started: list[str] = []

    async def run_started() -> bool:
        d = await handle.describe()
        actions = [a.action for a in d.info.recent_actions]
        started[:] = [a.workflow_id for a in actions if a.first_execution_run_id]  # type: ignore[attr-defined]
        return bool(started)

    await wait_for(run_started, timeout=DEADLINE, what="the triggered run")
    run = client.get_workflow_handle(started[0])
    d = await run.describe()
    assert await d.static_summary() == "the nightly run"
    assert await d.static_details() == "started by a schedule"
    assert d.typed_search_attributes.get(STAGE) == "nightly"
    first = (await run.fetch_history()).events[0].attributes
    assert first.priority is not None and first.priority.priority_key == 2  # type: ignore[union-attr]
    assert await _history_value(first.header["tenant"]) == "acme-schedule"  # type: ignore[union-attr]
    await run.signal(Waiter.finish)
    await handle.delete()
    calls = counting.calls
    assert (calls["create_schedule"], calls["trigger_schedule"], calls["delete_schedule"]) == (1, 1, 1), calls
    assert calls["describe_schedule"] >= 2, calls


@workflow.defn
class AddedByPlugin:
    @workflow.run
    async def run(self) -> str:
        return "ran on a worker the client's plugin configured"


class TenantPlugin(Plugin, tidal_worker.Plugin):
    """A client plugin that is also a worker plugin (temporalio's rule: workers built on the
    client apply it too): it adds the counting interceptor to the client and a workflow to every
    worker, and records what it was asked to do."""

    def __init__(self) -> None:
        self.counting = CountingInterceptor()
        self.seen: list[str] = []

    def configure_client(self, config: ClientConfig) -> ClientConfig:
        self.seen.append("configure_client")
        return {**config, "interceptors": [*config["interceptors"], self.counting]}

    async def connect_service_client(self, config: HttpConnectConfig, next: Any) -> Any:
        self.seen.append(f"connect:{config.target_host}")
        return await next(config)

    def configure_worker(self, config: tidal_worker.WorkerConfig) -> tidal_worker.WorkerConfig:
        self.seen.append("configure_worker")
        return {**config, "workflows": [*config["workflows"], AddedByPlugin]}

    async def run_worker(self, worker: tidal_worker.Worker, next: Any) -> None:
        await next(worker)

    def configure_replayer(self, config: Any) -> Any:
        return config

    def run_replayer(self, replayer: Any, histories: Any, next: Any) -> Any:
        return next(replayer, histories)


async def client_plugin_configures_client_and_workers(client: Client, task_queue: str) -> None:
    plugin = TenantPlugin()
    plugged = Client(**{**client.config(), "plugins": [plugin]})
    assert plugin.seen == ["configure_client"]
    assert plugged.config()["interceptors"] == () and plugged.config()["plugins"] == (plugin,)
    assert plugged.config(active_config=True)["interceptors"] == [plugin.counting]
    queue = f"{task_queue}-plugin-{uuid.uuid4().hex[:6]}"
    async with tidal_worker.Worker(plugged, task_queue=queue, workflows=[Waiter]) as w:
        assert plugin.seen == ["configure_client", "configure_worker"]
        assert AddedByPlugin in w.config(active_config=True)["workflows"]
        result = await plugged.execute_workflow(
            AddedByPlugin.run, id=f"plug-{uuid.uuid4()}", task_queue=queue
        )
    assert result == "ran on a worker the client's plugin configured"
    assert plugin.counting.calls["start_workflow"] == 1, plugin.counting.calls
