"""temporalio's `workflow.*` handler API, `@workflow.init` and dynamic workflows on a real
worker (issue 11), embedded and on the real stack."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_workflow_api as sw
from tests.support.scenario_suite import ScenarioSuite

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=[
        sw.handlers_set_at_run_time,
        sw.update_handler_set_by_run_gets_the_starting_update,
        sw.dynamic_workflow,
        sw.activity_forms_and_summaries,
        sw.child_start_options,
        sw.continue_as_new_options,
        sw.root_info,
        sw.external_cancel_with_reason,
    ],
    queue=lambda s: sw.TASK_QUEUE,
    task_queue=sw.TASK_QUEUE,
    workflows=sw.WORKFLOWS,
    activities=sw.ACTIVITIES,
)


test_embedded, test_stack = SUITE.pytest_tests()
