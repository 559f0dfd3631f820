"""Matching's task-queue rate limit on the in-memory bus with a FakeClock: a limited queue's
activity tasks wait in its held queue and leave at the declared rate, other task queues are not
held back, a new declaration takes effect at once, a lapsed rate releases the rest, and a
matching process that stops while tasks wait loses none of them."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tidal_matching.app import MatchingService
from tidal_matching.settings import MatchingSettings
from tidal_schema import names
from tidal_schema.messages import ActivityTask, AddActivityTask, DeclareTaskQueueRate
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, Delivery, InMemoryBus, OutMessage, QueueSpec
from tidal_server.clock import FakeClock
from tidal_server.service import Runtime

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task(task_queue: str, i: int) -> bytes:
    return (
        AddActivityTask(
            task=ActivityTask(
                namespace="default",
                workflow_id=f"wf-{i}",
                run_id="r",
                workflow_type="W",
                activity_id=str(i),
                activity_type="a",
                task_queue=task_queue,
                scheduled_event_id=5,
                scheduled_time=T0,
                current_attempt_scheduled_time=T0,
                history_routing_key=names.shard_routing_key(0),
            )
        )
        .model_dump_json()
        .encode()
    )


class Harness:
    def __init__(self, bus: InMemoryBus, clock: FakeClock) -> None:
        self.bus = bus
        self.clock = clock
        self.got: dict[str, list[str]] = {}
        self.dead: list[dict[str, Any]] = []
        # The time declarations lapse in: the fake clock's unless a test moves them apart.
        self.monotonic: Callable[[], float] = lambda: clock.now().timestamp()

    def service(self, **settings: Any) -> MatchingService:
        runtime = Runtime(bus=self.bus, engine=None, member_id="m-test", shard_count=1, clock=self.clock)  # type: ignore[arg-type]
        return MatchingService(
            runtime,
            MatchingSettings(**{"backlog_poll_seconds": 3600, **settings}),
            monotonic=lambda: self.monotonic(),
        )

    async def worker(self, task_queue: str) -> None:
        queue = names.activity_task_queue("default", task_queue)
        await self.bus.declare_queue(QueueSpec(name=queue, max_priority=names.TASK_QUEUE_MAX_PRIORITY))

        async def on_task(d: Delivery) -> None:
            self.got.setdefault(task_queue, []).append(d.body.decode())
            await d.ack()

        await self.bus.consume(queue, on_task)

    async def declare(self, task_queue: str, rate: float | None) -> None:
        body = DeclareTaskQueueRate(task_queue=task_queue, activities_per_second=rate).model_dump_json()
        await self.publish_raw(body.encode())

    async def publish_raw(self, body: bytes) -> None:
        await self.bus.publish(
            OutMessage(exchange=names.RATES_EXCHANGE, routing_key=names.MATCHING_RATES_ROUTING_KEY, body=body)
        )

    async def add(self, task_queue: str, n: int, start: int = 0) -> None:
        for i in range(start, start + n):
            await self.bus.publish(
                OutMessage(
                    exchange=names.MATCHING_EXCHANGE,
                    routing_key=names.MATCHING_ROUTING_KEY,
                    body=task(task_queue, i),
                )
            )

    def count(self, task_queue: str) -> int:
        return len(self.got.get(task_queue, []))


async def settle() -> None:
    """Let every ready handler run (the in-memory bus dispatches on the loop; no time passes)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    bus = InMemoryBus()
    await bus.connect()
    harness = Harness(bus, FakeClock(T0))

    async def on_dead(d: Delivery) -> None:
        harness.dead.append(dict(d.headers))
        await d.ack()

    await bus.consume(DLQ_QUEUE, on_dead)
    try:
        yield harness
    finally:
        await bus.close()


Step = Callable[[], Awaitable[None]]


async def test_a_limited_queue_leaves_at_its_rate_and_holds_back_no_other(h: Harness) -> None:
    svc = h.service()
    await svc.start()
    await h.worker("slow")
    await h.worker("fast")
    await h.declare("slow", 2)
    await settle()
    await h.add("slow", 10)
    await h.add("fast", 10)
    await until(lambda: h.count("fast") == 10, "the unlimited queue's tasks")
    await until(lambda: h.count("slow") == 2, "the burst")
    await settle()
    assert h.count("slow") == 2  # no time passed: the rest wait in the held queue
    for expected in (3, 4, 5, 6, 7, 8, 9, 10):
        h.clock.advance(0.5)
        await until(lambda e=expected: h.count("slow") == e, f"{expected} tasks")  # type: ignore[misc]
        await settle()
        assert h.count("slow") == expected
    assert await h.bus.queue_depth(names.rate_limited_activity_queue("default", "slow")) == 0
    await svc.stop()


async def test_a_new_declaration_takes_effect_during_a_wait(h: Harness) -> None:
    svc = h.service()
    await svc.start()
    await h.worker("q")
    await h.declare("q", 0.001)  # one task every 1000 s
    await settle()
    await h.add("q", 3)
    await until(lambda: h.count("q") == 1, "the burst of one")
    await settle()
    assert h.count("q") == 1
    await h.declare("q", 1000)  # a faster rate wakes the release waiting (up to 60 s) for a token
    for _ in range(3):  # a few ms of fake time, far below the 60 s the old wait had left
        await settle()
        h.clock.advance(0.002)
    await until(lambda: h.count("q") == 3, "the rest at the new rate")
    await svc.stop()


async def test_a_lapsed_rate_releases_what_waits(h: Harness) -> None:
    svc = h.service(task_queue_rate_ttl_seconds=60)
    await svc.start()
    await h.worker("q")
    await h.declare("q", 0.01)
    await settle()
    await h.add("q", 5)
    await until(lambda: h.count("q") == 1, "the burst of one")
    h.clock.advance(61)  # nobody declared it again
    await until(lambda: h.count("q") == 5, "the rest, unlimited")
    await h.add("q", 5, start=5)  # no longer held at all
    await until(lambda: h.count("q") == 10, "new tasks")
    await svc.stop()


async def test_tasks_waiting_when_matching_stops_are_released_by_the_next_one(h: Harness) -> None:
    first = h.service()
    await first.start()
    await h.worker("q")
    await h.declare("q", 0.01)
    await settle()
    await h.add("q", 5)
    await until(lambda: h.count("q") == 1, "the burst of one")
    await settle()
    await first.stop()  # as a crash would: one task unacked in its release, three ready
    held = names.rate_limited_activity_queue("default", "q")
    assert await h.bus.queue_depth(held) == 4
    second = h.service()
    await second.start()
    # A worker without the option declares too: the new process finds the held queue.
    await h.declare("q", None)
    await until(lambda: h.count("q") == 5, "the held tasks")
    assert sorted(json.loads(b)["workflow_id"] for b in h.got["q"]) == [f"wf-{i}" for i in range(5)]
    await second.stop()


async def test_hostile_declarations_are_dead_lettered_and_change_nothing(h: Harness) -> None:
    svc = h.service(max_rate_limited_task_queues=1)
    await svc.start()
    await h.worker("q")
    bodies = [
        b"\x00\xff",
        b'{"task_queue": "q", "activities_per_second": 0}',
        b'{"task_queue": "q", "activities_per_second": NaN}',
        b'{"task_queue": "q", "activities_per_second": [1]}',
        b'{"task_queue": "", "activities_per_second": 1}',
        b'{"task_queue": "q", "activities_per_second": 1, "extra": 1}',
        b'{"task_queue": "' + b"q" * 5000 + b'", "activities_per_second": 1}',
    ]
    for body in bodies:
        await h.publish_raw(body)
    await until(lambda: len(h.dead) == len(bodies), "every bad declaration dead-lettered")
    assert all(str(d[H_DL_REASON]).startswith("invalid task queue rate declaration") for d in h.dead)
    await h.declare("other", 1)
    await h.declare("q", 1)  # one limited task queue at most here: refused with the reason
    await until(lambda: len(h.dead) == len(bodies) + 1, "the refused declaration")
    assert "max_rate_limited_task_queues" in str(h.dead[-1][H_DL_REASON])
    await h.add("q", 5)
    await until(lambda: h.count("q") == 5, "q's tasks, unlimited")
    await svc.stop()


async def test_a_skip_of_the_pacing_clock_refills_the_burst_but_does_not_lapse_the_rate(h: Harness) -> None:
    """The time-skipping environment's clock jumps hours while workers declare every 10 s of real
    time: the rate's time to live runs on real time, so it holds (it lapsed at the first skip
    before: the declaration's age was read on the skipping clock)."""
    real = h.clock.now().timestamp()
    h.monotonic = lambda: real  # real time stands still in this test; the pacing clock jumps
    svc = h.service(task_queue_rate_ttl_seconds=60)
    await svc.start()
    await h.worker("q")
    await h.declare("q", 1)
    await settle()
    await h.add("q", 5)
    await until(lambda: h.count("q") == 1, "the burst of one")
    h.clock.advance(3600)
    await until(lambda: h.count("q") == 2, "the token the hour refilled")
    await settle()
    assert h.count("q") == 2  # still limited: one token, not the whole backlog
    h.clock.advance(1)
    await until(lambda: h.count("q") == 3, "the next token")
    await svc.stop()


async def test_a_much_faster_rate_consumes_the_held_queue_anew_and_loses_nothing(h: Harness) -> None:
    svc = h.service()
    await svc.start()
    await h.worker("q")
    await h.declare("q", 1)  # prefetch 1
    await settle()
    await h.add("q", 50)
    await until(lambda: h.count("q") == 1, "the burst of one")
    await h.declare("q", 500)  # prefetch 32: the task in hand goes back to the queue first
    for _ in range(20):
        await settle()
        h.clock.advance(0.01)
    await until(lambda: h.count("q") >= 50, "every task")
    await settle()
    ids = sorted(json.loads(b)["workflow_id"] for b in h.got["q"])
    assert set(ids) == {f"wf-{i}" for i in range(50)}
    assert len(ids) == 50  # the requeued task went out once
    await svc.stop()


async def test_the_backlog_gauge_shows_the_held_tasks_and_the_rate(h: Harness) -> None:
    from prometheus_client import REGISTRY

    svc = h.service(backlog_poll_seconds=0.01)
    await svc.start()
    await h.worker("gauged")
    await h.declare("gauged", 0.5)
    await settle()
    await h.add("gauged", 6)
    labels = {"namespace": "default", "task_queue": "gauged"}

    def sample(name: str, **extra: str) -> float | None:
        return REGISTRY.get_sample_value(name, {**labels, **extra})

    # One out (the burst), one in the release's hand (prefetch 1), four ready in the held queue.
    await until(lambda: sample("tidal_matching_task_queue_backlog", kind="activity_held") == 4, "the gauge")
    assert sample("tidal_matching_task_queue_rate_limit") == 0.5
    assert sample("tidal_matching_rate_limited_tasks_total") == 6
    await svc.stop()


def _series_of(gauge_or_counter: Any, prefix: str) -> list[dict[str, str]]:
    return [
        s.labels
        for metric in gauge_or_counter.collect()
        for s in metric.samples
        if s.labels.get("task_queue", "").startswith(prefix)
    ]


async def test_thousands_of_lapsed_task_queues_leave_nothing_behind(h: Harness) -> None:
    """A worker (or anyone who may publish to tidal.rates) declaring a rate for a new task queue
    every time: each once took a held-queue consumer, a bucket and metric series in every
    matching process for good (only the rate itself was forgotten, and only at the 10,000 cap).
    A rate that lapsed a time to live ago and whose held queue is empty is now forgotten
    altogether; a task queue declared again is limited again."""
    from tidal_matching import metrics

    svc = h.service(task_queue_rate_ttl_seconds=60, backlog_poll_seconds=0.01)
    await svc.start()
    for i in range(1000):
        await h.declare(f"forged-{i}", 5)
    await until(lambda: len(svc._held.attached_keys()) == 1000, "a held queue per declared task queue")
    await until(lambda: len(_series_of(metrics.RATE_LIMIT, "forged-")) == 1000, "the rate gauges")
    h.clock.advance(61)  # lapsed: each queue's held tasks go on unlimited; still attached
    await asyncio.sleep(0.05)
    assert len(svc._held.attached_keys()) == 1000
    h.clock.advance(60)  # lapsed a time to live ago, and nothing held: forgotten
    await until(lambda: not svc._held.attached_keys(), "every idle held queue let go")
    await until(lambda: not svc._rates.keys(), "every lapsed rate forgotten")
    await until(lambda: not _series_of(metrics.RATE_LIMIT, "forged-"), "their rate gauges removed")
    assert not _series_of(metrics.BACKLOG, "forged-")
    # Declared again: limited again.
    await h.worker("forged-7")
    await h.declare("forged-7", 0.01)
    await until(lambda: svc._held.attached_keys() == [("default", "forged-7")], "attached again")
    await h.add("forged-7", 3)
    await until(lambda: h.count("forged-7") == 1, "the burst of one")
    await settle()
    assert h.count("forged-7") == 1
    await svc.stop()


async def test_long_identities_in_declarations_cost_no_memory(h: Harness) -> None:
    """A declaration's identity may be 10,000 characters (any Text); matching kept it whole with
    each declared rate, so 10,000 task queues declared with long identities held 100 MB in every
    matching process. It keeps a short prefix (only logs could use it)."""
    svc = h.service()
    await svc.start()

    async def grown_by(prefix: str, identity: str) -> int:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(500):
            body = DeclareTaskQueueRate(
                task_queue=f"{prefix}-{i}", activities_per_second=5, identity=f"{identity}{i}"
            ).model_dump_json()
            await h.publish_raw(body.encode())
        await until(
            lambda: len(svc._rates.keys()) % 500 == 0 and f"{prefix}-499" in str(svc._rates.keys()), prefix
        )
        await settle()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        return grown

    short = await grown_by("short", "worker@host")
    long = await grown_by("long", "w" * 9_990)
    # 500 identities of 10,000 characters are 5 MB; kept as prefixes they are nothing.
    assert long - short < 1_000_000, (short, long)
    await svc.stop()
