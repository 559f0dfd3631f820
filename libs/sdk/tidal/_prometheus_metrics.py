"""A `MetricMeter` that records into the process's Prometheus registry, which the worker serves
(`Worker(metrics_port=...)`, docs/observability.md). Attributes become labels; Prometheus wants
one label set per metric name, so the first record fixes a metric's labels and a record with
other attribute names is refused (ValueError). Metrics with the same name share one collector,
so creating one per workflow run or activity attempt is cheap. Timedeltas are recorded in
seconds. `skip` makes a meter record nothing while it answers True (workflow replay)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Self

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ._metric_api import (
    MetricAttributes,
    MetricCounter,
    MetricGauge,
    MetricGaugeFloat,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricMeter,
)

__all__ = ["PrometheusMeter"]

_KINDS: dict[str, Callable[..., Any]] = {"counter": Counter, "histogram": Histogram, "gauge": Gauge}
_lock = threading.Lock()  # activities record from executor threads too
_collectors: dict[tuple[int, str], tuple[str, tuple[str, ...], Any]] = {}


def _collector(registry: CollectorRegistry, kind: str, name: str, doc: str, labels: tuple[str, ...]) -> Any:
    with _lock:
        found = _collectors.get((id(registry), name))
        if found is None:
            collector = _KINDS[kind](name, doc, labelnames=labels, registry=registry)
            _collectors[(id(registry), name)] = (kind, labels, collector)
            return collector
    have_kind, have_labels, collector = found
    if have_kind != kind:
        raise ValueError(f"metric {name!r} is a {have_kind}, not a {kind}")
    if have_labels != labels:
        raise ValueError(
            f"metric {name!r} was recorded with attributes {list(have_labels)}, now {list(labels)}: "
            "Prometheus needs the same attribute names on every record of a metric"
        )
    return collector


@dataclass(frozen=True)
class _Metric(
    MetricCounter,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricGauge,
    MetricGaugeFloat,
):
    kind: str
    metric_name: str
    metric_description: str | None
    metric_unit: str | None
    attributes: Mapping[str, Any]
    registry: CollectorRegistry
    skip: Callable[[], bool]

    @property
    def name(self) -> str:
        return self.metric_name

    @property
    def description(self) -> str | None:
        return self.metric_description

    @property
    def unit(self) -> str | None:
        return self.metric_unit

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> Self:
        return dataclasses.replace(self, attributes={**self.attributes, **additional_attributes})

    def _child(self, additional_attributes: MetricAttributes | None) -> Any:
        labels = {**self.attributes, **(additional_attributes or {})}
        names = tuple(sorted(labels))
        doc = self.metric_description or self.metric_name
        collector = _collector(self.registry, self.kind, self.metric_name, doc, names)
        return collector.labels(**{k: str(labels[k]) for k in names}) if names else collector

    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        if value < 0:
            raise ValueError(f"metric {self.metric_name!r}: a counter only adds non-negative values")
        if not self.skip():
            self._child(additional_attributes).inc(value)

    def record(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        amount = value.total_seconds() if isinstance(value, timedelta) else value
        if amount < 0:
            raise ValueError(f"metric {self.metric_name!r}: a histogram only records non-negative values")
        if not self.skip():
            self._child(additional_attributes).observe(amount)

    def set(self, value: Any, additional_attributes: MetricAttributes | None = None) -> None:
        if not self.skip():
            self._child(additional_attributes).set(value)


def _never() -> bool:
    return False


@dataclass(frozen=True)
class PrometheusMeter(MetricMeter):
    attributes: Mapping[str, Any] = field(default_factory=dict)
    registry: CollectorRegistry = REGISTRY
    skip: Callable[[], bool] = _never

    def _metric(self, kind: str, name: str, description: str | None, unit: str | None) -> _Metric:
        return _Metric(kind, name, description, unit, dict(self.attributes), self.registry, self.skip)

    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricCounter:
        return self._metric("counter", name, description, unit)

    def create_histogram(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogram:
        return self._metric("histogram", name, description, unit)

    def create_histogram_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramFloat:
        return self._metric("histogram", name, description, unit)

    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramTimedelta:
        return self._metric("histogram", name, description, unit or "seconds")

    def create_gauge(self, name: str, description: str | None = None, unit: str | None = None) -> MetricGauge:
        return self._metric("gauge", name, description, unit)

    def create_gauge_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGaugeFloat:
        return self._metric("gauge", name, description, unit)

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter:
        return PrometheusMeter({**self.attributes, **additional_attributes}, self.registry, self.skip)
