"""The mixed workload: what to start, what to send it, and a record of every answer.

Each workflow gets a plan (its kind, when it starts, what it is sent) from a seeded random
generator, so a failing run can be repeated. `run_workload` starts the workflows spread over a
window, sends signals and updates while they run, and returns a `Sent` record per workflow: the
checker later compares the histories in Postgres with it.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from .client import Answer, ApiClient

__all__ = ["KINDS", "Plan", "Sent", "SignalSent", "UpdateSent", "make_plans", "run_workload"]

# Kind -> (workflow type, share of the workload).
KINDS: dict[str, tuple[str, float]] = {
    "activity": ("ActivityWorkflow", 0.25),
    "retry": ("RetryWorkflow", 0.15),
    "timer": ("TimerWorkflow", 0.12),
    "signal": ("SignalWorkflow", 0.1),
    "update": ("UpdateWorkflow", 0.1),
    "parent": ("ParentWorkflow", 0.1),
    "entity": ("EntityWorkflow", 0.18),
}
TIMER_SECONDS = [1.0, 2.0]
CHILDREN = 3
SIGNALS = 4
UPDATES = 4
ENTITY_SIGNALS = 8


@dataclass(frozen=True, kw_only=True)
class Plan:
    kind: str
    workflow_id: str
    start_at: float  # seconds after the workload starts
    gaps: tuple[float, ...]  # pauses between the inputs it is sent
    burst: int  # inputs sent concurrently at a time (entity: to land while a task is out)

    @property
    def workflow_type(self) -> str:
        return KINDS[self.kind][0]

    def args(self) -> list[Any]:
        if self.kind in ("activity", "retry"):
            return [self.workflow_id]
        if self.kind == "timer":
            return [TIMER_SECONDS]
        if self.kind == "parent":
            return [CHILDREN]
        if self.kind == "entity":
            return [[]]
        return []


@dataclass(frozen=True, kw_only=True)
class SignalSent:
    name: str
    value: str | None
    request_id: str
    answer: Answer


@dataclass(frozen=True, kw_only=True)
class UpdateSent:
    n: int
    update_id: str
    answer: Answer


@dataclass
class Sent:
    plan: Plan
    start: Answer | None = None
    signals: list[SignalSent] = field(default_factory=list)
    updates: list[UpdateSent] = field(default_factory=list)
    done_at: float = 0.0  # monotonic time the driver finished with it


def make_plans(count: int, *, window: float, seed: int, prefix: str) -> list[Plan]:
    rng = random.Random(seed)
    kinds = list(KINDS)
    weights = [KINDS[k][1] for k in kinds]
    plans = []
    for i in range(count):
        # Every kind at least once, even in a tiny run; the rest by weight.
        kind = kinds[i] if i < len(kinds) else rng.choices(kinds, weights)[0]
        inputs = {"signal": SIGNALS, "update": UPDATES, "entity": ENTITY_SIGNALS}.get(kind, 0)
        plans.append(
            Plan(
                kind=kind,
                workflow_id=f"{prefix}-{kind}-{i}",
                start_at=rng.uniform(0, window),
                gaps=tuple(rng.uniform(0.0, 2.0) for _ in range(inputs)),
                burst=rng.choice((2, 3)) if kind == "entity" else 1,
            )
        )
    return plans


async def _drive(api: ApiClient, plan: Plan, sent: Sent, t0: float) -> None:
    await asyncio.sleep(max(0.0, t0 + plan.start_at - time.monotonic()))
    wid = plan.workflow_id
    sent.start = await api.start(wid, plan.workflow_type, plan.args(), request_id=f"{wid}/start")
    if not sent.start.acked:
        return
    if plan.kind in ("signal", "entity"):
        values = [f"{wid}:{i}" for i in range(len(plan.gaps))]
        for at in range(0, len(values), plan.burst):
            await asyncio.sleep(plan.gaps[at])
            group = values[at : at + plan.burst]
            answers = await asyncio.gather(
                *(api.signal(wid, "add", [v], request_id=f"{wid}/add/{v}") for v in group)
            )
            sent.signals.extend(
                SignalSent(name="add", value=v, request_id=f"{wid}/add/{v}", answer=a)
                for v, a in zip(group, answers, strict=True)
            )
    elif plan.kind == "update":
        for i, gap in enumerate(plan.gaps):
            await asyncio.sleep(gap)
            uid = f"{wid}/update/{i}"
            answer = await api.update(wid, "add", [1 << i], update_id=uid)
            sent.updates.append(UpdateSent(n=1 << i, update_id=uid, answer=answer))
    if plan.kind in ("signal", "update", "entity"):
        rid = f"{wid}/finish"
        sent.signals.append(
            SignalSent(
                name="finish",
                value=None,
                request_id=rid,
                answer=await api.signal(wid, "finish", [], request_id=rid),
            )
        )


async def run_workload(api: ApiClient, records: list[Sent]) -> None:
    """Drive every plan; fills `records` in place, so a caller that gives up still has what was
    sent so far."""
    t0 = time.monotonic()

    async def one(sent: Sent) -> None:
        await _drive(api, sent.plan, sent, t0)
        sent.done_at = time.monotonic()

    await asyncio.gather(*(one(s) for s in records))
