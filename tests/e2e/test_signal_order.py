"""Signals before a run's first workflow task starts are recorded before its WorkflowTaskStarted
and seen by its first activation, on the embedded server and on the real stack."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_signal_order as so
from tests.support.scenario_suite import ScenarioSuite

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


test_embedded, test_stack = SUITE.pytest_tests()
