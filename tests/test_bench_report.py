"""The bench's goal table and arguments (pure: no servers, no peers; the timing is `make bench`'s)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.support.stack import ROOT


def _bench(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _results() -> dict[str, Any]:
    lat = {"p50_ms": 8.0, "p99_ms": 12.0}
    return {
        "systems": {
            "temporal": {"burst": {"workflows_per_s": 50.0}, "ten": {"workflows_per_s": 10.0}},
            "tidal-stack/process": {
                "burst": {
                    "workflows_per_s": 250.0,
                    "cpu_seconds": {"history-1": 3.0, "history-2": 1.0, "other": 9.0, "_system_busy": 1.0},
                    "cpu_ms_per_workflow": {"all": 9.5},
                },
                "seq": {"start_to_result": lat},
                "seq-execute": {"via": "execute", "call_to_result": {"p50_ms": 6.0, "p99_ms": 9.0}},
                "ten": {"workflows_per_s": 30.0},
                "timers": {"fired_minus_due": {"p50_ms": 5.0, "p99_ms": 70.0}},
            },
            "tidal-embedded": {"burst": {"workflows_per_s": 300.0}, "seq": {"start_to_result": lat}},
            "dbos": {"error": "RuntimeError: no database"},
        }
    }


def test_every_goal_line_has_its_ratio_and_verdict() -> None:
    goals = _bench("goals")
    rows = {r.goal: r for r in goals.goal_rows(_results())}
    assert len(rows) == 9
    assert rows["stack burst vs Temporal"].ratio == pytest.approx(5.0)
    assert rows["stack burst vs Temporal"].verdict == "PASS"
    assert rows["stack burst vs 300 wf/s"].verdict == "MISS"
    # `seq-execute` (6.0) when it ran, saying so, with `seq` (8.0) beside it.
    assert rows["stack one at a time p50"].ratio == pytest.approx(0.6)
    assert rows["stack one at a time p50"].verdict == "PASS"
    assert rows["stack one at a time p50"].figure == "6.0 ms (seq-execute; seq 8.0 / seq-execute 6.0 ms)"
    # Only `seq` ran on the embedded mode: judged on it, and says so.
    assert rows["embedded one at a time p50 vs DBOS"].verdict == "n/a (no DBOS figure: --peers dbos)"
    assert rows["stack ten-activity burst vs Temporal"].ratio == pytest.approx(3.0)
    assert rows["stack ten-activity burst vs Temporal"].verdict == "MISS"
    assert rows["stack timer p99 lateness"].verdict == "MISS"
    assert rows["stack CPU-ms per workflow, all processes"].verdict == "PASS"
    # DBOS failed in this run: its lines say so instead of comparing with nothing.
    assert rows["embedded burst vs DBOS"].verdict == "n/a (no DBOS figure: --peers dbos)"
    # A missing Tidal figure names the run that gives it, not the peer.
    no_stack = {
        r.goal: r for r in goals.goal_rows({"systems": {"temporal": _results()["systems"]["temporal"]}})
    }
    assert no_stack["stack burst vs Temporal"].verdict == "n/a (no tidal-stack/process burst)"
    split = rows["history CPU split over 2 processes"]
    assert split.figure == "75% / 25%"
    assert split.verdict == "MISS"


def test_one_at_a_time_goals_take_seq_execute_when_it_ran() -> None:
    goals = _bench("goals")
    res = _results()
    systems = res["systems"]
    # execute_workflow slower than start + result: still `seq-execute` (a fixed choice, not the
    # better of two noisy figures).
    systems["tidal-stack/process"]["seq-execute"]["call_to_result"]["p50_ms"] = 11.0
    # DBOS has no single call: its `seq-execute` is start + result.
    systems["dbos"] = {
        "seq": {"start_to_result": {"p50_ms": 7.0, "p99_ms": 9.0}},
        "seq-execute": {"via": "start+result", "call_to_result": {"p50_ms": 6.5, "p99_ms": 9.0}},
    }
    systems["tidal-embedded"]["seq-execute"] = {"via": "execute", "call_to_result": {"p50_ms": 5.2}}
    rows = {r.goal: r for r in goals.goal_rows(res)}
    stack = rows["stack one at a time p50"]
    assert stack.ratio == pytest.approx(1.1)
    assert stack.figure == "11.0 ms (seq-execute; seq 8.0 / seq-execute 11.0 ms)"
    assert stack.verdict == "MISS"
    embedded = rows["embedded one at a time p50 vs DBOS"]
    assert embedded.ratio == pytest.approx(5.2 / 6.5)
    assert embedded.figure == "5.2 ms (seq-execute; seq 8.0 / seq-execute 5.2 ms)"
    assert embedded.reference == "DBOS 6.5 ms (seq-execute; seq 7.0 / seq-execute 6.5 ms)"
    assert embedded.verdict == "PASS"
    # Only `seq-execute` ran: judged on it.
    only = {"systems": {"tidal-stack/process": {"seq-execute": systems["tidal-embedded"]["seq-execute"]}}}
    assert goals.one_at_a_time(only, "tidal-stack/process") == (5.2, "seq-execute")
    assert goals.one_at_a_time({"systems": {}}, "tidal-stack/process") == (None, "seq")


def test_cpu_per_workflow_counts_every_process_but_the_rest_of_the_box() -> None:
    suite = _bench("suite")
    per = suite.cpu_ms_per_workflow({"history": 1.0, "rabbitmq": 0.5, "other": 7.0, "_system_busy": 9.0}, 100)
    assert per == {"history": 10.0, "rabbitmq": 5.0, "other": 70.0, "all": 15.0}


def test_the_report_prints_one_table_with_every_goal_line() -> None:
    report, goals = _bench("report"), _bench("goals")
    text = report.report(_results())
    for row in goals.goal_rows(_results()):
        assert row.goal in text
    assert "dbos failed: RuntimeError: no database" in text
    assert "5.00x" in text
    # 1000 / 9.5 CPU-ms per workflow: the rate per core the stack's processes used.
    assert "105.3" in text
    row = next(line for line in text.splitlines() if line.startswith("one at a time via execute_workflow"))
    assert "6.0 / 9.0" in row


def test_the_report_marks_a_seq_execute_that_is_start_then_result() -> None:
    report = _bench("report")
    res = {
        "systems": {
            "dbos": {
                "seq-execute": {"via": "start+result", "call_to_result": {"p50_ms": 6.5, "p99_ms": 9.0}}
            },
            "temporal": {
                "seq-execute": {"via": "execute", "call_to_result": {"p50_ms": 60.0, "p99_ms": 90.0}}
            },
        }
    }
    row = next(
        line
        for line in report.report(res).splitlines()
        if line.startswith("one at a time via execute_workflow")
    )
    assert "60.0 / 90.0" in row and "60.0 / 90.0 (" not in row
    assert "6.5 / 9.0 (start+result)" in row


def test_arguments_quick_peers_and_workloads() -> None:
    run, peers = _bench("run"), _bench("peers")
    assert "seq-execute" in run.parse_args([]).workloads  # a default workload
    args = run.parse_args(["--quick", "--n", "7", "--workloads", "burst,timers"])
    assert (args.n, args.m, args.timers, args.workloads, args.peers) == (7, 10, 200, ["burst", "timers"], [])
    assert args.worker == "both"
    with pytest.raises(SystemExit):
        run.parse_args(["--workloads", "burst,nope"])
    if peers.missing_for("temporal") or peers.missing_for("dbos"):
        with pytest.raises(SystemExit):  # names what is missing and `uv sync --group bench`
            run.parse_args(["--peers"])
    else:
        args = run.parse_args(["--peers"])
        assert (args.peers, args.worker) == (["temporal", "dbos"], "process")
        assert run.parse_args(["--peers", "dbos"]).peers == ["dbos"]
