"""Workflow interceptors (issue 11), embedded and on the real stack (scenarios in
scenarios_workflow_interceptors.py)."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_workflow_interceptors as si
from tests.support.scenario_suite import ScenarioSuite

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

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


test_embedded, test_stack = SUITE.pytest_tests()
