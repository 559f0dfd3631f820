"""The runnable examples the concept docs link to still run and print what the docs promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONCEPTS = ROOT / "examples" / "concepts"

# Each example -> lines its output must contain (the behaviour its doc page describes).
EXPECTED: dict[str, list[str]] = {
    "saga.py": ["cancelled flight\n  cancelled hotel", "trip failed"],
    "time_skipping.py": ["invoice-1: paid", "invoice-2: sent to collections", "server time moved to"],
    "replay.py": ["patched change: replays cleanly", "unsafe change: Nondeterminism: history event"],
    "signals_queries_updates.py": [
        "added, cart size: 2",
        "rejected: an item needs a name",
        "query: ['apple', 'pear']",
        "result: ['apple', 'pear']",
    ],
    "child_workflows.py": ["sum of squares 1..4 = 30", "counted to 10"],
    "waiting.py": ["globex: 95\ninitech: 99\nacme: 120", "still pending (cancelled): 1", "cheapest: globex"],
    "workflow_policies.py": ["report built on attempt 3", "second start refused", "old run Terminated"],
}


def test_every_concept_example_is_checked() -> None:
    assert sorted(p.name for p in CONCEPTS.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_concept_example_runs(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(CONCEPTS / name)], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for line in EXPECTED[name]:
        assert line in proc.stdout, f"{name}: {line!r} not in output:\n{proc.stdout}"
