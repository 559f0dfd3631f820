"""Workflow interceptors (issue 11), embedded and on the real stack (scenarios in
scenarios_workflow_interceptors.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client

from tests.e2e import scenarios_workflow_interceptors as si
from tests.support.scenario_suite import Scenario, ScenarioSuite
from tests.support.stack import Stack

SUITE = ScenarioSuite(
    scenarios=[
        si.tracing_headers,
        si.counted_and_rewritten,
        si.failing_signal_interceptor,
        si.update_headers,
    ],
    queue=lambda s: f"workflow-interceptors-{s.__name__}",
    timeout=60,
)


@pytest.fixture
async def embedded() -> AsyncIterator[Client]:
    async with SUITE.embedded() as client:
        yield client


@pytest.mark.parametrize("scenario", SUITE.scenarios, ids=SUITE.ids)
async def test_embedded(embedded: Client, scenario: Scenario) -> None:
    await SUITE.run_one(embedded, scenario)


async def test_stack(running: Stack) -> None:
    """All scenarios at once on one stack (each on its own task queue)."""
    await SUITE.run_all(running.address)
