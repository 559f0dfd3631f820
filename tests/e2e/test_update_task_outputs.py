"""An update handler's task that also records markers (local activity, patch), then more tasks:
cached and replayed, embedded and on the real stack (scenarios in scenarios_update_outputs.py)."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_update_outputs as su
from tests.support.scenario_suite import ScenarioSuite

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=[
        su.local_activity_in_an_update_cached,
        su.local_activity_in_an_update_replayed,
        su.patch_in_an_update_replayed,
    ],
    queue=lambda s: f"e2e-update-outputs-{s.__name__}",
)

test_embedded, test_stack = SUITE.pytest_tests()
