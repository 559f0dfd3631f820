"""temporalio.common's metric interfaces (`MetricMeter` and the metrics it creates; re-exported
by `tidal.common`), with the no-op meter. `workflow.metric_meter()` and `activity.metric_meter()`
give meters that record into the worker's Prometheus registry (`_prometheus_metrics`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar, Self

__all__ = [
    "MetricAttributes",
    "MetricCommon",
    "MetricCounter",
    "MetricGauge",
    "MetricGaugeFloat",
    "MetricHistogram",
    "MetricHistogramFloat",
    "MetricHistogramTimedelta",
    "MetricMeter",
]

MetricAttributes = Mapping[str, str | int | float | bool]


class MetricCommon(ABC):
    """What every metric has: a name, an optional description and unit, and attributes."""

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def description(self) -> str | None: ...

    @property
    @abstractmethod
    def unit(self) -> str | None: ...

    @abstractmethod
    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> Self:
        """The same metric with more attributes (labels) on everything it records."""


class MetricCounter(MetricCommon):
    @abstractmethod
    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        """Add a non-negative value."""


class MetricHistogram(MetricCommon):
    @abstractmethod
    def record(self, value: int, additional_attributes: MetricAttributes | None = None) -> None: ...


class MetricHistogramFloat(MetricCommon):
    @abstractmethod
    def record(self, value: float, additional_attributes: MetricAttributes | None = None) -> None: ...


class MetricHistogramTimedelta(MetricCommon):
    @abstractmethod
    def record(self, value: timedelta, additional_attributes: MetricAttributes | None = None) -> None: ...


class MetricGauge(MetricCommon):
    @abstractmethod
    def set(self, value: int, additional_attributes: MetricAttributes | None = None) -> None: ...


class MetricGaugeFloat(MetricCommon):
    @abstractmethod
    def set(self, value: float, additional_attributes: MetricAttributes | None = None) -> None: ...


class MetricMeter(ABC):
    """Creates metrics; `MetricMeter.noop` records nothing."""

    noop: ClassVar[MetricMeter]

    @abstractmethod
    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricCounter: ...

    @abstractmethod
    def create_histogram(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogram: ...

    @abstractmethod
    def create_histogram_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramFloat: ...

    @abstractmethod
    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricHistogramTimedelta: ...

    @abstractmethod
    def create_gauge(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGauge: ...

    @abstractmethod
    def create_gauge_float(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> MetricGaugeFloat: ...

    @abstractmethod
    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter: ...


class _Noop(
    MetricCounter,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricGauge,
    MetricGaugeFloat,
):
    def __init__(self, name: str, description: str | None, unit: str | None) -> None:
        self._name, self._description, self._unit = name, description, unit

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def unit(self) -> str | None:
        return self._unit

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> Self:
        return self

    def add(self, value: int, additional_attributes: MetricAttributes | None = None) -> None:
        pass

    def record(self, value: object, additional_attributes: MetricAttributes | None = None) -> None:
        pass

    def set(self, value: object, additional_attributes: MetricAttributes | None = None) -> None:
        pass


class _NoopMeter(MetricMeter):
    def create_counter(self, name: str, description: str | None = None, unit: str | None = None) -> _Noop:
        return _Noop(name, description, unit)

    create_histogram = create_histogram_float = create_histogram_timedelta = create_counter
    create_gauge = create_gauge_float = create_counter

    def with_additional_attributes(self, additional_attributes: MetricAttributes) -> MetricMeter:
        return self


MetricMeter.noop = _NoopMeter()
