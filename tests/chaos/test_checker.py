"""The checker catches what the chaos suite exists to catch (synthetic histories, no servers):
a lost acknowledged signal, a signal applied twice across a continue-as-new, a gap in event ids,
an activity attempt executed twice by a live worker, a stuck run; and it does not count a signal
still buffered in an open run as lost, nor a re-run after a worker kill as a duplicate."""

from __future__ import annotations

from typing import Any

from tests.chaos.activity_log import Fault
from tests.chaos.checker import RunRow, check
from tests.chaos.client import Answer
from tests.chaos.driver import Plan, Sent, SignalSent

_OK = Answer(acked=True, status=200, body={}, attempts=1)


def _ev(i: int, kind: str, **attrs: Any) -> dict[str, Any]:
    return {"_id": i, "attributes": {"type": kind, **attrs}}


def _entity(values_acked: list[str]) -> Sent:
    plan = Plan(kind="entity", workflow_id="e", start_at=0, gaps=(), burst=1)
    sent = Sent(plan=plan, start=Answer(acked=True, status=201, body={}, attempts=1))
    sent.signals = [SignalSent(name="add", value=v, request_id=f"e/{v}", answer=_OK) for v in values_acked]
    sent.signals.append(SignalSent(name="finish", value=None, request_id="e/finish", answer=_OK))
    return sent


def _run(run_id: str, status: str, events: list[dict[str, Any]], prev: str | None = None) -> RunRow:
    events[0]["attributes"]["continued_execution_run_id"] = prev
    return RunRow("e", run_id, status, len(events) + 1, None, events)


def _signal(i: int, value: str) -> dict[str, Any]:
    return _ev(i, "WorkflowExecutionSignaled", request_id=f"e/{value}")


def _completed(i: int, result: Any) -> dict[str, Any]:
    return _ev(i, "WorkflowExecutionCompleted", result=[{"data": result}])


def test_a_clean_chain_passes() -> None:
    r1 = _run("r1", "ContinuedAsNew", [_ev(1, "WorkflowExecutionStarted"), _signal(2, "a")])
    r2 = _run(
        "r2",
        "Completed",
        [_ev(1, "WorkflowExecutionStarted"), _signal(2, "b"), _ev(3, "X"), _completed(4, ["a", "b"])],
        prev="r1",
    )
    r2.events[2]["attributes"] = {"type": "WorkflowExecutionSignaled", "request_id": "e/finish"}
    report = check([_entity(["a", "b"])], {"e": [r1, r2]}, [], [])
    assert report.totals()["completed"] == 1 and not report.anomalies, report.anomalies


def test_lost_duplicated_gap_and_stuck_are_caught() -> None:
    r1 = _run("r1", "ContinuedAsNew", [_ev(1, "WorkflowExecutionStarted"), _signal(2, "a")])
    # "a" again in the successor; "b" acknowledged but nowhere; event id 3 missing.
    r2 = _run("r2", "Running", [_ev(1, "WorkflowExecutionStarted"), _signal(2, "a"), _ev(4, "X")], prev="r1")
    report = check([_entity(["a", "b"])], {"e": [r1, r2]}, [], [])
    v = report.verdicts[0]
    assert v.outcome == "stuck" and v.lost_signals == 2 and v.duplicated == 2, v.notes


def test_a_signal_buffered_in_an_open_run_is_pending_not_lost() -> None:
    r1 = _run("r1", "Running", [_ev(1, "WorkflowExecutionStarted")])
    r1.buffered = [{"type": "WorkflowExecutionSignaled", "request_id": "e/a"}]
    v = check([_entity(["a"])], {"e": [r1]}, [], []).verdicts[0]
    assert v.outcome == "stuck" and v.lost_signals == 1, v.notes  # only `finish` is missing


def _attempt(t: float, pid: int) -> dict[str, Any]:
    return {"workflow_id": "a", "run_id": "r", "activity_id": "1", "attempt": 2, "pid": pid, "t": t}


def test_an_attempt_run_twice_counts_unless_a_fault_allows_it() -> None:
    plan = Plan(kind="activity", workflow_id="a", start_at=0, gaps=(), burst=1)
    sent = Sent(plan=plan, start=Answer(acked=True, status=201, body={}, attempts=1))
    run = RunRow(
        "a", "r", "Completed", 3, None, [_ev(1, "WorkflowExecutionStarted"), _completed(2, "Hello, a!")]
    )
    log = [_attempt(100.0, 7), _attempt(100.03, 7)]
    assert check([sent], {"a": [run]}, log, []).verdicts[0].duplicated == 1
    worker_killed = [Fault(t=100.01, kind="kill", target="worker")]
    assert check([sent], {"a": [run]}, log, worker_killed).verdicts[0].duplicated == 0
    timer_killed = [Fault(t=100.01, kind="kill", target="timer")]  # fires must be absorbed
    assert check([sent], {"a": [run]}, log, timer_killed).verdicts[0].duplicated == 1
