"""The chaos suite, bounded for CI: about 200 mixed workflows on the real stack (two history
processes, matching, timer, frontend, a worker; durable Postgres) while a process is SIGKILLed
every few seconds for a minute and RabbitMQ and Postgres are each restarted once; then every
history is checked. `make chaos` runs the full form (1,000 workflows, 4 minutes of faults).

One run serves all the tests below (a module fixture); each asserts one guarantee, so a known
defect marks only its own assertion. The table is printed with any failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.harness import ChaosResult, Options, format_table, run_chaos
from tests.support._common import _run_async
from tests.support.servers import ServerUnavailableError

pytestmark = pytest.mark.timeout(900)

# min_kills: on a loaded box the broker and database restarts can take most of the minute (twice
# only 3 SIGKILLs fitted, once 4), so the faults go on until 5 were dealt (at most two more minutes).
CI_OPTIONS = Options(workflows=200, fault_seconds=60.0, settle_seconds=120.0, seed=9, min_kills=5)

# A known defect being fixed elsewhere is marked on the one assertion it breaks, e.g.
# `@pytest.mark.xfail(strict=False, reason="issue 9 defect N: ...")`, and unmarked when its fix
# merges. On the main of 2026-12-06 (defects 1, 2, 6, 7, 9 merged) none is needed.


@pytest.fixture(scope="module")
def chaos() -> Iterator[ChaosResult]:
    try:
        result = _run_async(run_chaos(CI_OPTIONS, log=lambda *_: None))
    except ServerUnavailableError as exc:
        pytest.skip(f"the chaos suite needs local RabbitMQ and Postgres binaries: {exc}")
    print("\n" + format_table(result))
    yield result


def _why(result: ChaosResult) -> str:
    return "\n" + format_table(result, anomalies=40)


def test_the_faults_were_injected(chaos: ChaosResult) -> None:
    kills = sum(n for k, n in chaos.faults.items() if k.startswith("kill "))
    assert kills >= 5, _why(chaos)
    assert chaos.faults["restart-rabbitmq"] == 1 and chaos.faults["restart-postgres"] == 1, _why(chaos)


def test_every_workflow_ran(chaos: ChaosResult) -> None:
    """Starts are retried with their request id; one that still failed after the client's budget
    (300 s) is not a broken promise, only unavailability, so this is a loose bound: on a machine
    loaded enough that the broker takes over two minutes to restart, 30 of 200 starts failed."""
    t = chaos.totals
    assert t["workflows"] == CI_OPTIONS.workflows
    assert t["gave_up"] <= CI_OPTIONS.workflows // 4, _why(chaos)
    assert all(row["completed"] for row in chaos.report.by_kind().values()), _why(chaos)


def test_every_closed_workflow_has_the_right_result(chaos: ChaosResult) -> None:
    assert chaos.totals["wrong"] == 0, _why(chaos)


def test_no_acknowledged_signal_is_lost(chaos: ChaosResult) -> None:
    assert chaos.totals["lost signals"] == 0, _why(chaos)


def test_no_input_is_applied_twice(chaos: ChaosResult) -> None:
    assert chaos.totals["duplicated"] == 0, _why(chaos)


def test_nothing_is_stuck(chaos: ChaosResult) -> None:
    assert chaos.totals["stuck"] == 0, _why(chaos)


def test_every_scheduled_time_was_taken_exactly_once(chaos: ChaosResult) -> None:
    """The every-second ALLOW_ALL schedule: one run per nominal second of the window, none twice,
    none missed, every run completed (docs/schedules.md)."""
    v = chaos.schedules["all"]
    assert v.created and v.paused, _why(chaos)
    assert v.actions == v.runs and v.actions >= 30, _why(chaos)
    assert v.duplicated == 0 and v.gaps == 0 and v.missed == 0 and v.after_pause == 0, _why(chaos)
    assert v.not_completed == 0, _why(chaos)


def test_schedule_overlap_policies_held(chaos: ChaosResult) -> None:
    """SKIP and BUFFER_ONE with runs longer than the interval: never two runs open at once, runs
    in nominal order, actions skipped, no id twice."""
    for name in ("skip", "buffer_one"):
        v = chaos.schedules[name]
        # Runs stay open across outages (one averaged 19 s on a loaded box), so few are taken.
        assert v.created and v.paused and v.actions == v.runs and v.actions >= 2, _why(chaos)
        assert v.overlaps == 0 and v.out_of_order == 0 and v.duplicated == 0, _why(chaos)
        assert v.skipped > 0 and v.missed == 0 and v.not_completed == 0 and v.after_pause == 0, _why(chaos)
