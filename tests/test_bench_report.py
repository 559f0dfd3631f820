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
    assert rows["stack one at a time p50"].ratio == pytest.approx(0.8)
    assert rows["stack one at a time p50"].verdict == "PASS"
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


def test_arguments_quick_peers_and_workloads() -> None:
    run, peers = _bench("run"), _bench("peers")
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
