"""temporalio worker edges (issue 11), embedded and on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client

from tests.e2e import scenarios_worker_edges as se
from tests.support.scenario_suite import Scenario, ScenarioSuite
from tests.support.stack import Stack

SUITE = ScenarioSuite(
    scenarios=[
        se.async_with_runs_the_plugins,
        se.evicted_runs_unwind_in_the_workflow_unless_disabled,
        se.patch_activation_callback_decides_for_new_runs,
        se.plugin_shutdown_timeout_bounds_their_cleanup,
        se.process_pool_activity_heartbeats_and_sees_cancellation,
    ],
    queue=lambda s: f"e2e-worker-edges-{s.__name__}",
)


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    async with SUITE.embedded() as client:
        yield client


@pytest.mark.parametrize("scenario", SUITE.scenarios, ids=SUITE.ids)
async def test_embedded(embedded: Client, scenario: Scenario) -> None:
    await SUITE.run_one(embedded, scenario)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each uses its own task queue)."""
    await SUITE.run_all(running.address)
