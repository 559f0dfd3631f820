"""temporalio.common's MetricMeter on Prometheus (the registry a worker serves)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from tidal._prometheus_metrics import PrometheusMeter
from tidal.common import MetricMeter


def test_metrics_record_with_the_meters_attributes_as_labels() -> None:
    registry = CollectorRegistry()
    meter = PrometheusMeter({"task_queue": "tq"}, registry=registry)
    name = f"m_{uuid.uuid4().hex[:8]}"
    counter = meter.create_counter(f"{name}_c", "a counter")
    counter.add(2)
    counter.with_additional_attributes({"extra": 1}).name  # noqa: B018  (a copy; same name)
    assert counter.name == f"{name}_c" and counter.description == "a counter" and counter.unit is None
    meter.create_histogram_timedelta(f"{name}_h").record(timedelta(milliseconds=1500))
    meter.with_additional_attributes({"k": "v"}).create_gauge(f"{name}_g").set(7)
    assert registry.get_sample_value(f"{name}_c_total", {"task_queue": "tq"}) == 2.0
    assert registry.get_sample_value(f"{name}_h_sum", {"task_queue": "tq"}) == 1.5
    assert registry.get_sample_value(f"{name}_g", {"task_queue": "tq", "k": "v"}) == 7.0
    # The same name again (e.g. one meter per activity attempt) is the same collector.
    PrometheusMeter({"task_queue": "tq"}, registry=registry).create_counter(f"{name}_c").add(1)
    assert registry.get_sample_value(f"{name}_c_total", {"task_queue": "tq"}) == 3.0


def test_what_prometheus_cannot_keep_is_refused_clearly() -> None:
    registry = CollectorRegistry()
    meter = PrometheusMeter({"task_queue": "tq"}, registry=registry)
    name = f"m_{uuid.uuid4().hex[:8]}"
    meter.create_counter(name).add(1)
    with pytest.raises(ValueError, match="same attribute names"):
        meter.create_counter(name).add(1, {"other": "x"})
    with pytest.raises(ValueError, match="is a counter, not a gauge"):
        meter.create_gauge(name).set(1)
    with pytest.raises(ValueError, match="non-negative"):
        meter.create_counter(name).add(-1)
    skipping = PrometheusMeter({"task_queue": "tq"}, registry=registry, skip=lambda: True)
    skipping.create_counter(name).add(5)
    assert registry.get_sample_value(f"{name}_total", {"task_queue": "tq"}) == 1.0


def test_the_noop_meter_records_nothing() -> None:
    c = MetricMeter.noop.create_counter("anything", "d", "u")
    c.add(1)
    assert (c.name, c.description, c.unit) == ("anything", "d", "u")
    assert MetricMeter.noop.with_additional_attributes({"a": 1}) is MetricMeter.noop
