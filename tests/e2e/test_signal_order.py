"""Signals before a run's first workflow task starts are recorded before its WorkflowTaskStarted
and seen by its first activation, on the embedded server and on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tidal.client import Client

from tests.e2e import scenarios_signal_order as so
from tests.support.scenario_suite import Scenario, ScenarioSuite
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=[
        so.signals_before_the_first_task,
        so.signals_before_the_first_task_after_continue_as_new,
        so.signal_with_start_before_the_first_task,
    ],
    queue=lambda s: "",
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
    """All scenarios at once on one stack (each uses its own task queues and workflow ids)."""
    await SUITE.run_all(running.address)
