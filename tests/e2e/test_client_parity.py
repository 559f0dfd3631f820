"""temporalio's client API on Tidal (issue 11): interceptors and headers, terminate details,
query reject conditions, history event iterators; embedded and on the real stack."""

from __future__ import annotations

import pytest
from tidal.client import Client

from tests.e2e import scenarios_client_parity as sc
from tests.support.scenario_suite import ScenarioSuite
from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=[
        sc.interceptor_counts_and_adds_headers,
        sc.terminate_records_details,
        sc.query_reject_conditions,
        sc.history_events_and_close_event,
        sc.update_handle_for,
        sc.result_without_following_runs,
        sc.update_wait_runs_out,
        sc.execution_memo_and_listing,
        sc.schedule_action_fields,
        sc.client_plugin_configures_client_and_workers,
    ],
    queue=lambda s: sc.TASK_QUEUE,
    task_queue=sc.TASK_QUEUE,
    workflows=sc.WORKFLOWS,
)


test_embedded, test_stack = SUITE.pytest_tests()


async def test_connect_goes_through_the_plugins_and_checks_the_server(running: Stack) -> None:
    """`Client.connect(plugins=)`: each plugin's `connect_service_client` wraps opening the
    connection and its `configure_client` the client built on it (and, being also a worker
    plugin, every worker on that client)."""
    plugin = sc.TenantPlugin()
    client = await Client.connect(running.address, plugins=[plugin])
    try:
        assert plugin.seen == [f"connect:{running.address}", "configure_client"]
        assert client.config()["plugins"] == (plugin,)
        await sc.client_plugin_configures_client_and_workers(client, sc.TASK_QUEUE)
    finally:
        await client.close()
    lazy = await Client.connect(running.address, lazy=True)
    try:
        assert await lazy.count_workflows() is not None  # the first call opens the connection
    finally:
        await lazy.close()
