"""temporalio.worker / converter / exceptions / common parity (issue 11), as scenarios run on the
embedded server and on the real stack (tests/e2e/test_worker_parity.py). Each scenario starts its
own worker (they differ in interceptors and converters) on the task queue it is given."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tidal import activity, workflow
from tidal.client import Client
from tidal.common import RetryPolicy
from tidal.converter import DataConverter
from tidal.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)


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
