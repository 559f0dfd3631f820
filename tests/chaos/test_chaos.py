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

CI_OPTIONS = Options(workflows=200, fault_seconds=60.0, settle_seconds=120.0, seed=9)

# Known defects of issue 9 being fixed on parallel branches; remove each mark when its fix merges.
DEFECT_1 = pytest.mark.xfail(
    strict=False,
    reason="issue 9 defect 1: signals buffered while an entity's workflow task is out are dropped "
    "when that task continues as new (or completes); wip/hist-buffer fixes it",
)
DEFECT_6_AND_CAN_DEDUP = pytest.mark.xfail(
    strict=False,
    reason="issue 9 defect 6: a duplicated ACTIVITY_RETRY fire runs the same attempt twice; and "
    "(found by this suite) signal request ids are not inherited by the continue-as-new successor, "
    "so a redelivered or retried signal is applied again in the next run",
)


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
    (150 s) is not a broken promise, but nearly every start must get through (a loaded machine
    can take a minute or more to restart the broker)."""
    t = chaos.totals
    assert t["workflows"] == CI_OPTIONS.workflows
    assert t["not_started"] <= CI_OPTIONS.workflows // 10, _why(chaos)


def test_every_closed_workflow_has_the_right_result(chaos: ChaosResult) -> None:
    assert chaos.totals["wrong"] == 0, _why(chaos)


@DEFECT_1
def test_no_acknowledged_signal_is_lost(chaos: ChaosResult) -> None:
    assert chaos.totals["lost signals"] == 0, _why(chaos)


@DEFECT_6_AND_CAN_DEDUP
def test_no_input_is_applied_twice(chaos: ChaosResult) -> None:
    assert chaos.totals["duplicated"] == 0, _why(chaos)


@DEFECT_1  # an entity whose `finish` signal was dropped never closes
def test_nothing_is_stuck(chaos: ChaosResult) -> None:
    assert chaos.totals["stuck"] == 0, _why(chaos)
