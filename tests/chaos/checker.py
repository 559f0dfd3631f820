"""The history checker: reads every run of every workflow from Postgres and judges it against what
the driver sent and what the worker executed.

Per workflow it decides: completed with the right result, wrong result (closed otherwise, or the
value is not what the inputs imply), lost signals (acknowledged, yet absent from history or from
the result), duplicated (an input applied twice: a repeated signal request id or update id, two
completions of one activity or timer or child, event ids that are not 1..n, one activity attempt
executed twice by live workers), stuck (still running after the deadline).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from tidal_schema import WorkflowExecutionStatus

from .activity_log import Fault, activity_duplicates
from .client import Answer
from .driver import CHILDREN, TIMER_SECONDS, Sent

__all__ = ["Fault", "Report", "RunRow", "Verdict", "check", "load_runs", "open_count"]


@dataclass
class RunRow:
    workflow_id: str
    run_id: str
    status: str
    next_event_id: int
    start_time: Any
    events: list[dict[str, Any]] = field(default_factory=list)
    # Inputs received while a workflow task was out, not yet written as events.
    buffered: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Verdict:
    kind: str
    workflow_id: str
    outcome: str  # completed | wrong | stuck | gave_up (the client's start or finish finally failed)
    lost_signals: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    verdicts: list[Verdict]
    requests: Counter[str]  # "start acked", "signal failed", ...
    anomalies: list[str]

    def by_kind(self) -> dict[str, Counter[str]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for v in self.verdicts:
            row = table[v.kind]
            row["workflows"] += 1
            row[v.outcome] += 1
            row["lost signals"] += v.lost_signals
            row["duplicated"] += 1 if v.duplicated else 0
        return dict(table)

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for row in self.by_kind().values():
            total.update(row)
        return total


async def load_runs(dsn: str, prefix: str) -> dict[str, list[RunRow]]:
    """Every run whose workflow id starts with `prefix`, with its events, grouped by workflow id
    and ordered by start (a continue-as-new chain in order)."""
    conn = await asyncpg.connect(dsn)
    try:
        # One snapshot: a run still moving must not be read at two different moments (its events
        # would then not match its next_event_id).
        tx = conn.transaction(isolation="repeatable_read", readonly=True)
        await tx.start()
        rows = await conn.fetch(
            "SELECT workflow_id, run_id, status, next_event_id, start_time, "
            "state->'buffered_events' AS buffered FROM executions "
            "WHERE workflow_id LIKE $1 ORDER BY workflow_id, start_time, run_id",
            prefix + "%",
        )
        events = await conn.fetch(
            "SELECT workflow_id, run_id, event_id, data FROM history_events "
            "WHERE workflow_id LIKE $1 ORDER BY workflow_id, run_id, event_id",
            prefix + "%",
        )
        await tx.commit()
    finally:
        await conn.close()
    runs: dict[tuple[str, str], RunRow] = {}
    chains: dict[str, list[RunRow]] = defaultdict(list)
    for r in rows:
        run = RunRow(r["workflow_id"], r["run_id"], r["status"], r["next_event_id"], r["start_time"])
        buffered = r["buffered"]
        run.buffered = (json.loads(buffered) if isinstance(buffered, str) else buffered) or []
        runs[(run.workflow_id, run.run_id)] = run
        chains[run.workflow_id].append(run)
    for e in events:
        data = e["data"]
        event = json.loads(data) if isinstance(data, str) else data
        event["_id"] = e["event_id"]
        run = runs.get((e["workflow_id"], e["run_id"]))
        if run is not None:
            run.events.append(event)
    return {wid: _order_chain(chain) for wid, chain in chains.items()}


def _order_chain(chain: list[RunRow]) -> list[RunRow]:
    """Follow continued_execution_run_id links (start times can tie within a millisecond)."""
    by_prev: dict[str | None, RunRow] = {}
    for run in chain:
        started = _attrs(run.events[0]) if run.events else {}
        by_prev[started.get("continued_execution_run_id")] = run
    ordered, prev = [], None
    while prev in by_prev and len(ordered) < len(chain):
        ordered.append(by_prev[prev])
        prev = ordered[-1].run_id
    return ordered if len(ordered) == len(chain) else chain


async def open_count(dsn: str, prefix: str, *, ignore: frozenset[str] = frozenset()) -> int:
    """Runs still open, except those of the workflow ids in `ignore`."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await asyncio.wait_for(
            conn.fetch(
                "SELECT workflow_id FROM executions WHERE workflow_id LIKE $1 AND status = $2",
                prefix + "%",
                _RUNNING,
            ),
            timeout=10,
        )
    finally:
        await conn.close()
    return sum(1 for r in rows if r["workflow_id"] not in ignore)


def _attrs(event: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = event["attributes"]
    return attrs


def _values(payloads: list[dict[str, Any]] | None) -> list[Any]:
    return [p.get("data") for p in payloads or []]


def _run_duplicates(run: RunRow) -> list[str]:
    """Inputs applied twice within one run, and event ids that are not exactly 1..n."""
    problems = []
    ids = [e["_id"] for e in run.events]
    if ids != list(range(1, len(ids) + 1)) or run.next_event_id != len(ids) + 1:
        problems.append(
            f"event ids not contiguous in run {run.run_id}: {len(ids)} events, next {run.next_event_id}"
        )
    keys: Counter[str] = Counter()
    for e in run.events:
        a, t = _attrs(e), e["attributes"]["type"]
        if t == "WorkflowExecutionSignaled":
            keys[f"signal {a.get('request_id')}"] += 1
        elif t in (
            "ActivityTaskCompleted",
            "ActivityTaskFailed",
            "ActivityTaskTimedOut",
            "ActivityTaskCanceled",
        ):
            keys[f"activity {a['scheduled_event_id']} closed"] += 1
        elif t == "ActivityTaskStarted":
            keys[f"activity {a['scheduled_event_id']} started attempt {a.get('attempt')}"] += 1
        elif t == "TimerFired":
            keys[f"timer {a['started_event_id']} fired"] += 1
        elif t in ("WorkflowExecutionUpdateAccepted", "WorkflowExecutionUpdateCompleted"):
            keys[f"{t} {a['update_id']}"] += 1
        elif t == "ChildWorkflowExecutionStarted" or t.startswith("ChildWorkflowExecution"):
            keys[f"{t} {a['initiated_event_id']}"] += 1
        elif t in ("WorkflowTaskCompleted", "WorkflowTaskFailed", "WorkflowTaskTimedOut"):
            keys[f"workflow task {a['scheduled_event_id']} closed"] += 1
    problems.extend(f"{k} x{n} in run {run.run_id}" for k, n in keys.items() if n > 1)
    closing = [
        e for e in run.events if e["attributes"]["type"].startswith("WorkflowExecution") and _is_close(e)
    ]
    if len(closing) > 1:
        problems.append(f"{len(closing)} closing events in run {run.run_id}")
    return problems


_RUNNING = WorkflowExecutionStatus.RUNNING.value
_COMPLETED = WorkflowExecutionStatus.COMPLETED.value
_CLOSE = {
    "WorkflowExecutionCompleted",
    "WorkflowExecutionFailed",
    "WorkflowExecutionTimedOut",
    "WorkflowExecutionCanceled",
    "WorkflowExecutionTerminated",
    "WorkflowExecutionContinuedAsNew",
}


def _is_close(event: dict[str, Any]) -> bool:
    return event["attributes"]["type"] in _CLOSE


def _final(chain: list[RunRow]) -> tuple[str, Any]:
    """(status of the chain, result value if completed)."""
    last = chain[-1]
    if last.status == _RUNNING:
        return _RUNNING, None
    for e in reversed(last.events):
        if e["attributes"]["type"] == "WorkflowExecutionCompleted":
            values = _values(_attrs(e).get("result"))
            return _COMPLETED, values[0] if values else None
    return last.status, None


def _signaled(chain: list[RunRow]) -> Counter[str]:
    return Counter(
        _attrs(e).get("request_id", "")
        for run in chain
        for e in run.events
        if e["attributes"]["type"] == "WorkflowExecutionSignaled"
    )


def _judge(sent: Sent, chains: dict[str, list[RunRow]]) -> Verdict:
    plan = sent.plan
    wid = plan.workflow_id
    v = Verdict(kind=plan.kind, workflow_id=wid, outcome="completed")
    chain = chains.get(wid)
    if sent.start is None or not sent.start.acked:
        # Not acknowledged: nothing was promised (and the driver sent it nothing more). Whatever
        # of it did start must still not apply anything twice.
        v.outcome = "gave_up"
        for run in chain or []:
            dups = _run_duplicates(run)
            v.duplicated += len(dups)
            v.notes.extend(dups)
        return v
    if not chain:
        v.outcome = "stuck"
        v.notes.append("start acknowledged but no run in the database (lost start)")
        return v
    for run in chain:
        dups = _run_duplicates(run)
        v.duplicated += len(dups)
        v.notes.extend(dups)
    signaled = _signaled(chain)
    across = [rid for rid, n in signaled.items() if n > 1]
    if across:
        v.duplicated += len(across)
        v.notes.append(f"signal request ids applied more than once across runs: {across[:3]}")
    acked = [s for s in sent.signals if s.answer.acked]
    # A signal buffered in a run that is still open is pending, not lost (if that run is stuck,
    # the workflow counts as stuck).
    pending = {b.get("request_id") for run in chain if run.status == _RUNNING for b in run.buffered}
    lost = [s for s in acked if s.request_id not in signaled and s.request_id not in pending]
    status, result = _final(chain)
    needs_finish = plan.kind in ("signal", "update", "entity")
    if (
        status == _RUNNING
        and needs_finish
        and not any(s.name == "finish" and s.answer.acked for s in sent.signals)
    ):
        # Its `finish` was never acknowledged (the client gave up): nothing promised it would end.
        v.outcome = "gave_up"
    elif status == _RUNNING:
        v.outcome = "stuck"
    elif status != _COMPLETED:
        v.outcome = "wrong"
        v.notes.append(f"closed {status}")
    else:
        ok, note, lost_in_result, dup_in_result = _check_result(sent, result, chains)
        if not ok:
            v.outcome = "wrong"
            v.notes.append(note)
        lost.extend(s for s in lost_in_result if s not in lost)
        v.duplicated += dup_in_result
    if lost:
        v.lost_signals = len(lost)
        v.notes.append(f"lost acknowledged signals: {[s.request_id for s in lost][:4]}")
    return v


def _check_result(
    sent: Sent, result: Any, chains: dict[str, list[RunRow]]
) -> tuple[bool, str, list[Any], int]:
    """(right?, why not, acknowledged signals missing from the result, values seen twice)."""
    plan = sent.plan
    wid = plan.workflow_id
    if plan.kind == "activity":
        return result == f"Hello, {wid}!", f"result {result!r}", [], 0
    if plan.kind == "retry":
        attempts = [
            _attrs(e).get("attempt", 1)
            for run in chains[wid]
            for e in run.events
            if e["attributes"]["type"] == "ActivityTaskStarted"
        ]
        ok = result == f"{wid} ok" and bool(attempts) and max(attempts) >= 3
        return ok, f"result {result!r}, attempts {attempts}", [], 0
    if plan.kind == "timer":
        ok = isinstance(result, (int, float)) and result >= sum(TIMER_SECONDS) - 0.01
        return ok, f"timers took {result!r}s of workflow time", [], 0
    if plan.kind == "parent":
        expected = [f"Hello, {wid}-c{i}!" for i in range(CHILDREN)]
        children_ok = all(
            _final(chains.get(f"{wid}-c{i}") or [_MISSING_RUN])[0] == _COMPLETED for i in range(CHILDREN)
        )
        return (
            result == expected and children_ok,
            f"result {result!r}, children completed: {children_ok}",
            [],
            0,
        )
    if plan.kind == "update":
        total = result if isinstance(result, int) else -1
        sent_bits = sum(u.n for u in sent.updates)
        acked_bits = sum(u.n for u in sent.updates if u.answer.acked)
        answers_ok = all(
            (_values(u.answer.body.get("result")) or [0])[0] & u.n for u in sent.updates if u.answer.acked
        )
        ok = total >= 0 and (total & acked_bits) == acked_bits and (total & ~sent_bits) == 0 and answers_ok
        return ok, f"total {total}, acknowledged {acked_bits}, sent {sent_bits}", [], 0
    # signal / entity: every acknowledged value seen, nothing unknown, nothing twice.
    seen = result if isinstance(result, list) else []
    sent_values = {s.value for s in sent.signals if s.name == "add"}
    missing = [s for s in sent.signals if s.name == "add" and s.answer.acked and s.value not in seen]
    twice = sum(n - 1 for n in Counter(seen).values() if n > 1)
    unknown = [x for x in seen if x not in sent_values]
    ok = isinstance(result, list) and not unknown
    return ok, f"result has unknown values {unknown[:3]}", missing, twice


_MISSING_RUN = RunRow("", "", _RUNNING, 0, None)


def check(
    sent: list[Sent],
    chains: dict[str, list[RunRow]],
    activity_log: list[dict[str, Any]],
    faults: list[Fault],
) -> Report:
    requests: Counter[str] = Counter()
    for s in sent:
        if s.start is not None:
            requests[f"start {'acked' if s.start.acked else 'failed'}"] += 1
        for sig in s.signals:
            requests[f"signal {'acked' if sig.answer.acked else 'failed'}"] += 1
        for u in s.updates:
            requests[f"update {'acked' if u.answer.acked else 'failed'}"] += 1
    verdicts = [_judge(s, chains) for s in sent]
    # Children belong to their parent's verdict: their runs are checked the same way.
    by_id = {v.workflow_id: v for v in verdicts}
    for s in sent:
        if s.plan.kind == "parent":
            for i in range(CHILDREN):
                for run in chains.get(f"{s.plan.workflow_id}-c{i}", []):
                    dups = _run_duplicates(run)
                    by_id[s.plan.workflow_id].duplicated += len(dups)
                    by_id[s.plan.workflow_id].notes.extend(dups)
    for wid, notes in activity_duplicates(activity_log, faults).items():
        owner = by_id.get(wid) or by_id.get(wid.rsplit("-c", 1)[0])
        if owner is not None:
            owner.duplicated += len(notes)
            owner.notes.extend(notes)
    anomalies = [f"{v.kind} {v.workflow_id} [{v.outcome}]: {'; '.join(v.notes)}" for v in verdicts if v.notes]
    for s in sent:
        for sig in s.signals:
            if not sig.answer.acked:
                anomalies.append(f"{s.plan.workflow_id}: signal {sig.request_id} {_failed(sig.answer)}")
        for u in s.updates:
            if not u.answer.acked:
                anomalies.append(f"{s.plan.workflow_id}: update {u.update_id} {_failed(u.answer)}")
        if s.start is not None and not s.start.acked:
            anomalies.append(f"{s.plan.workflow_id}: start {_failed(s.start)}")
    return Report(verdicts=verdicts, requests=requests, anomalies=anomalies)


def _failed(answer: Answer) -> str:
    return f"failed after {answer.attempts} attempts: {answer.error}"
