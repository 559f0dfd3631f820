"""temporalio.worker / converter / exceptions / common parity (issue 11), embedded and on the
real stack (scenarios in scenarios_worker_parity.py, scenarios_converters.py and
scenarios_worker_config.py)."""

from __future__ import annotations

import pytest

from tests.e2e import scenarios_converters as sc
from tests.e2e import scenarios_worker_config as swc
from tests.e2e import scenarios_worker_parity as sw
from tests.support.scenario_suite import ScenarioSuite

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SUITE = ScenarioSuite(
    scenarios=[
        sw.activity_interceptors,
        sc.custom_converter_and_codec,
        sc.serialization_contexts,
        sw.benign_application_errors,
        sw.metric_meters,
        swc.worker_slots_and_config,
        swc.worker_plugins,
        swc.activities_per_second,
    ],
    queue=lambda s: f"worker-parity-{s.__name__}",
)


test_embedded, test_stack = SUITE.pytest_tests()
