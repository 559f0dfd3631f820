"""Closed temporalio parity gaps (issue 11), embedded and on the real stack."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_parity as sp
from tests.support.scenario_suite import ScenarioSuite

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=[
        sp.error_causes_and_retry_state,
        sp.describe_parent_and_root,
        sp.all_handlers_finished,
        sp.current_history_length,
        sp.environment_from_client,
        sp.worker_shutdown_cancels_activities,
        sp.execution_time_and_static_metadata,
        sp.priority_on_start_and_activities,
        sp.info_search_attributes,
        sp.cancel_with_reason,
    ],
    queue=lambda s: sp.TASK_QUEUE,
    task_queue=sp.TASK_QUEUE,
    workflows=sp.WORKFLOWS,
    activities=sp.ACTIVITIES,
)


test_embedded, test_stack = SUITE.pytest_tests()
