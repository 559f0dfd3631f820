"""temporalio worker edges (issue 11), embedded and on the real stack."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_worker_edges as se
from tests.support.scenario_suite import ScenarioSuite

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

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


test_embedded, test_stack = SUITE.pytest_tests()
