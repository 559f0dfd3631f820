"""Values shared by the client, worker, workflow and activity sides (mirrors temporalio.common)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import tidal_schema

from ._metric_api import (
    MetricCommon,
    MetricCounter,
    MetricGauge,
    MetricGaugeFloat,
    MetricHistogram,
    MetricHistogramFloat,
    MetricHistogramTimedelta,
    MetricMeter,
)
from ._policies import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ._search_attributes import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

__all__ = [
    "MetricCommon",
    "MetricCounter",
    "MetricGauge",
    "MetricGaugeFloat",
    "MetricHistogram",
    "MetricHistogramFloat",
    "MetricHistogramTimedelta",
    "MetricMeter",
    "Priority",
    "RawValue",
    "RetryPolicy",
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "TypedSearchAttributes",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
]


@dataclass(frozen=True)
class RawValue:
    """A value not yet converted: what a dynamic signal handler receives. Convert it with
    `workflow.payload_converter().from_payload(raw.payload, SomeType)`."""

    payload: tidal_schema.Payload


@dataclass(frozen=True)
class Priority:
    """Temporal's task priority: `priority_key` 1 (runs first) to 5, default 3 when unset; a
    fairness key and weight. Activities inherit the fields of their workflow's priority they do
    not set, child workflows those of their parent. Matching hands a task queue's backlog out by
    `priority_key` (docs/task-priority.md); the fairness fields are recorded, not used."""

    priority_key: int | None = None
    fairness_key: str | None = None
    fairness_weight: float | None = None

    default: ClassVar[Priority]

    def to_schema(self) -> tidal_schema.Priority | None:
        if self == Priority.default:
            return None
        return tidal_schema.Priority(
            priority_key=self.priority_key,
            fairness_key=self.fairness_key,
            fairness_weight=self.fairness_weight,
        )

    @staticmethod
    def from_schema(priority: tidal_schema.Priority | None) -> Priority:
        if priority is None:
            return Priority.default
        return Priority(
            priority_key=priority.priority_key,
            fairness_key=priority.fairness_key,
            fairness_weight=priority.fairness_weight,
        )


Priority.default = Priority()


@dataclass(frozen=True)
class RetryPolicy:
    """How failed activities (and workflows) are retried. `maximum_attempts=0` means unlimited."""

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    maximum_interval: timedelta | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: Sequence[str] | None = None

    def to_schema(self) -> tidal_schema.RetryPolicy:
        return tidal_schema.RetryPolicy(
            initial_interval=self.initial_interval,
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=self.maximum_interval,
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=tuple(self.non_retryable_error_types or ()),
        )

    @staticmethod
    def from_schema(policy: tidal_schema.RetryPolicy) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=policy.initial_interval,
            backoff_coefficient=policy.backoff_coefficient,
            maximum_interval=policy.maximum_interval,
            maximum_attempts=policy.maximum_attempts,
            non_retryable_error_types=list(policy.non_retryable_error_types) or None,
        )
