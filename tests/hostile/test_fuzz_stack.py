"""The hostile-input suite on the real stack: generated malformed messages to the command exchange
and every internal queue, and HTTP fuzzing (schemathesis, NUL, 20 MB bodies, deep nesting,
unknown namespaces, 1,000 concurrent requests). Afterwards a workflow on every shard completes,
every message is accounted for (in == rejected + dead-lettered + applied), and no service process
died or restarted. Prints a summary table.

Bounded for CI by default; `make hostile` runs the full form:
TIDAL_HOSTILE_MESSAGES (malformed AMQP messages in all, default 2,500; full 12,000),
TIDAL_HOSTILE_HTTP_EXAMPLES (schemathesis examples per operation and mode, default 3; full 30).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tidal.client import Client
from tidal_server.bus import DLQ_QUEUE, H_DL_REASON, AmqpBus, Delivery, OutMessage, QueueSpec

from tests.hostile import cases, fuzz, scenarios
from tests.support.stack import Stack, wait_for

MESSAGES = int(os.environ.get("TIDAL_HOSTILE_MESSAGES", "2500"))
HTTP_EXAMPLES = int(os.environ.get("TIDAL_HOSTILE_HTTP_EXAMPLES", "3"))
CONCURRENT = int(os.environ.get("TIDAL_HOSTILE_CONCURRENT", "1000"))
SEED = int(os.environ.get("TIDAL_HOSTILE_SEED", "9"))
# pytest's default 300 s per test is too short for the full form.
pytestmark = pytest.mark.timeout(240 + MESSAGES // 20 + HTTP_EXAMPLES * 20)
# The share of the messages each target gets.
SHARES = {"commands": 0.3, "history": 0.3, "matching": 0.15, "timer": 0.15, "task-queue": 0.1}


@dataclass
class Tally:
    sent: int = 0
    dead_lettered: int = 0
    rejected: int = 0
    applied: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def missing(self) -> int:
        return self.sent - self.dead_lettered - self.rejected - self.applied


@dataclass
class HttpTally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, status: int, what: str) -> None:
        self.sent += 1
        self.statuses[status] += 1
        if status >= 500:
            self.problems.append(f"{what} -> {status}")


def _reason(headers: Any) -> str:
    reason = headers.get(H_DL_REASON)
    if reason:
        return str(reason)
    deaths = headers.get("x-death") or []
    # Rejected by a consumer without a reason of its own (a worker nacks a task it cannot read).
    return f"rejected: by the consumer of {deaths[0].get('queue')}" if deaths else ""


async def _amqp_fuzz(running: Stack, bus: AmqpBus) -> dict[str, Tally]:
    tallies = {name: Tally() for name in SHARES}
    owner: dict[str, str] = {}
    dead: dict[str, str] = {}
    replies: dict[str, dict[str, Any]] = {}

    async def on_dead(d: Delivery) -> None:
        if d.message_id in owner:
            dead[d.message_id] = _reason(d.headers)
        await d.ack()

    async def on_reply(d: Delivery) -> None:
        if d.correlation_id in owner:
            replies[d.correlation_id] = json.loads(d.body)
        await d.ack()

    reply_queue = f"hostile.replies.{uuid.uuid4().hex[:8]}"
    await bus.declare_queue(QueueSpec(name=reply_queue, durable=False, dead_letter=False, auto_delete=True))
    dead_consumer = await bus.consume(DLQ_QUEUE, on_dead, prefetch=500)
    reply_consumer = await bus.consume(reply_queue, on_reply, prefetch=500)
    targets = fuzz.targets(running.shard_count)
    templates = {
        "history": fuzz.HISTORY_TEMPLATES,
        "matching": fuzz.MATCHING_TEMPLATES,
        "timer": fuzz.TIMER_TEMPLATES,
        "task-queue": fuzz.TASK_TEMPLATES,
    }
    try:
        batch: list[OutMessage] = []
        for name, share in SHARES.items():
            count = max(1, int(MESSAGES * share))
            if name == "commands":
                generated = fuzz.generate_commands(count, SEED)
            else:
                generated = fuzz.generate(targets[name], templates[name], count, SEED)
            for i, (key, body) in enumerate(generated):
                mid = f"{name}-{i}-{uuid.uuid4().hex[:6]}"
                owner[mid] = name
                batch.append(
                    OutMessage(
                        exchange=targets[name].exchange,
                        routing_key=key,
                        body=body,
                        message_id=mid,
                        correlation_id=mid,
                        reply_to=reply_queue if name == "commands" else None,
                    )
                )
                tallies[name].sent += 1
        random.Random(SEED).shuffle(batch)
        for start in range(0, len(batch), 250):
            await bus.publish_many(batch[start : start + 250])

        def settled() -> bool:
            commands_done = all(
                mid in dead and mid in replies for mid, name in owner.items() if name == "commands"
            )
            return commands_done and len(dead) + sum(1 for m in replies if m not in dead) >= len(owner)

        await wait_for(
            settled, timeout=60 + len(owner) / 50, interval=0.5, what="every message accounted for"
        )
    except TimeoutError:
        pass  # the tally below says which messages are missing
    finally:
        await dead_consumer.cancel()
        await reply_consumer.cancel()
    for mid, name in owner.items():
        tally = tallies[name]
        reply = replies.get(mid)
        if mid in dead:
            tally.dead_lettered += 1
            tally.reasons[dead[mid].split(":")[0]] += 1
            if name == "commands":
                assert reply is not None and reply["type"] == "CommandRejected" and reply["dead_lettered"], (
                    f"{mid}: dead-lettered without a CommandRejected reply: {reply}"
                )
        elif reply is not None and reply["type"] == "CommandRejected":
            tally.rejected += 1
        elif reply is not None:
            tally.applied += 1
    return tallies


def _schemathesis(address: str, tally: HttpTally) -> None:
    """Schemathesis against the stack's own document (positive and negative cases)."""
    schema = schemathesis.openapi.from_url(f"{address}/api/v1/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=HTTP_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            def run(case: Any) -> None:
                try:
                    response = case.call(timeout=60)
                except (ValueError, RecursionError, TypeError):
                    return  # the client could not even encode the generated request
                what = f"{case.method} {case.formatted_path}"
                status = response.status_code
                # The one documented 5xx valid input can reach: a query no worker answers (504).
                if status == 504 and response.json().get("code") == "deadline_exceeded":
                    status = 404 if "query" in case.formatted_path else status
                tally.add(status, what)
                try:
                    case.validate_response(
                        response,
                        checks=(
                            status_code_conformance,
                            content_type_conformance,
                            response_schema_conformance,
                        ),
                    )
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
                    tally.problems.append(f"{what}: {str(exc)[:300]}")

            try:
                run()
            except Unsatisfiable:
                pass


async def _http_hostile(address: str, tally: HttpTally) -> None:
    big = b'{"workflow_id": "w", "args": ["' + b"x" * (20 << 20) + b'"]}'
    async with httpx.AsyncClient(base_url=address, timeout=120) as http:
        for path in ("/workflows", "/workflows/w/signal", "/workflows/w/update"):
            r = await http.post(
                f"{cases.API}{path}", content=big, headers={"content-type": "application/json"}
            )
            tally.add(r.status_code, f"20 MB body to {path}")
            if r.status_code != 413:
                tally.problems.append(f"20 MB body to {path} -> {r.status_code}")
        for case in cases.HTTP_CASES:
            try:
                await cases.check_http_case(http, case)
                tally.add(case.status, case.name)
            except AssertionError as exc:
                tally.add(0, case.name)
                tally.problems.append(str(exc))
    # 1,000 concurrent requests, hostile and valid mixed, on as many connections.
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    rng = random.Random(SEED)
    async with httpx.AsyncClient(base_url=address, timeout=120, limits=limits) as http:

        async def one(i: int) -> None:
            kind = i % 5
            try:
                if kind == 0:
                    r = await http.get(f"/api/v1/namespaces/ns-{rng.randrange(10**6)}/workflows")
                elif kind == 1:
                    r = await http.get(f"{cases.API}/workflows/nul%00{i}")
                elif kind == 2:
                    body = cases._raw_start(f"[{cases.nested_text(rng.randint(65, 5000))}]")
                    r = await http.post(
                        f"{cases.API}/workflows", content=body, headers={"content-type": "application/json"}
                    )
                elif kind == 3:
                    r = await http.post(
                        f"{cases.API}/workflows/w-{i}/signal", json={"signal_name": "s", "args": ["\x00"]}
                    )
                else:
                    r = await http.get(f"{cases.API}/workflows", params={"page_size": 5})
                tally.add(r.status_code, f"concurrent #{i}")
            except httpx.HTTPError as exc:
                tally.add(0, f"concurrent #{i}")
                tally.problems.append(f"concurrent #{i}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(one(i) for i in range(CONCURRENT)))


def _table(tallies: dict[str, Tally], http: HttpTally, phases: dict[str, float]) -> str:
    lines = [
        "hostile-input suite (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + ")",
        f"{'target':<12} {'sent':>7} {'dead-lettered':>14} {'rejected':>9} {'applied':>8} "
        f"{'missing':>8}  reasons",
    ]
    for name, t in tallies.items():
        reasons = ", ".join(f"{k}={v}" for k, v in t.reasons.most_common(6))
        lines.append(
            f"{name:<12} {t.sent:>7} {t.dead_lettered:>14} {t.rejected:>9} {t.applied:>8} "
            f"{t.missing:>8}  {reasons}"
        )
    total = Tally(
        sent=sum(t.sent for t in tallies.values()),
        dead_lettered=sum(t.dead_lettered for t in tallies.values()),
        rejected=sum(t.rejected for t in tallies.values()),
        applied=sum(t.applied for t in tallies.values()),
    )
    lines.append(
        f"{'AMQP total':<12} {total.sent:>7} {total.dead_lettered:>14} {total.rejected:>9} "
        f"{total.applied:>8} {total.missing:>8}"
    )
    by_class = Counter(f"{s // 100}xx" if s else "error" for s in http.statuses.elements())
    lines.append(
        f"{'HTTP':<12} {http.sent:>7}  " + ", ".join(f"{k}={v}" for k, v in sorted(by_class.items()))
    )
    return "\n".join(lines)


async def test_hostile_input_suite(running: Stack, client: Client, bus: AmqpBus) -> None:
    phases: dict[str, float] = {}
    pids = {key: proc.pid for key, proc in running.procs.items()}
    started = time.monotonic()
    tallies = await _amqp_fuzz(running, bus)
    phases["amqp"] = time.monotonic() - started
    http = HttpTally()
    await asyncio.to_thread(_schemathesis, running.address, http)
    phases["schemathesis"] = time.monotonic() - started - sum(phases.values())
    await _http_hostile(running.address, http)
    phases["http"] = time.monotonic() - started - sum(phases.values())
    # Afterwards: nothing wedged, nothing died.
    await scenarios.every_shard_still_completes(client, running.shard_count)
    phases["every shard"] = time.monotonic() - started - sum(phases.values())
    table = _table(tallies, http, phases)
    print("\n" + table)
    assert {k: p.pid for k, p in running.procs.items()} == pids
    assert all(p.poll() is None for p in running.procs.values()), "a service process died"
    missing = {name: t.missing for name, t in tallies.items() if t.missing}
    assert not missing, f"messages neither rejected, dead-lettered nor applied: {missing}\n{table}"
    assert all(t.applied == 0 for t in tallies.values()), table
    assert sum(t.sent for t in tallies.values()) >= MESSAGES * 0.99
    assert not http.problems, "\n".join(http.problems[:30]) + "\n" + table
