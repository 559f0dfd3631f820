"""Schedules' own search attributes (issue 11), embedded and on the real stack (scenarios in
scenarios_schedule_search_attributes.py)."""

from __future__ import annotations

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.e2e import scenarios_schedule_search_attributes as ss
from tests.support.scenario_suite import ScenarioSuite
from tests.support.stack import Stack

pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=ss.SCENARIOS,
    queue=lambda s: f"schedule-search-attributes-{s.__name__}",
    timeout=60,
)


test_embedded, test_stack = SUITE.pytest_tests()


async def test_cli_embedded() -> None:
    env = await WorkflowEnvironment.start_local(port=0)
    try:
        assert env.target_host is not None
        await ss.the_cli(env.client, env.target_host)
    finally:
        await env.shutdown()


async def test_cli_stack(running: Stack) -> None:
    client = await Client.connect(running.address)
    try:
        await ss.the_cli(client, running.address)
    finally:
        await client.close()
