"""Retry decisions (Temporal's semantics for RetryPolicy), pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from tidal_schema import Failure, RetryPolicy

DEFAULT_ACTIVITY_RETRY = RetryPolicy()


def resolve_policy(policy: RetryPolicy | None) -> RetryPolicy:
    """Temporal's default maximum_interval is 100x the initial interval."""
    p = policy or DEFAULT_ACTIVITY_RETRY
    if p.maximum_interval is None:
        p = p.model_copy(update={"maximum_interval": p.initial_interval * 100})
    return p


def next_retry_delay(
    policy: RetryPolicy,
    *,
    attempt: int,
    failure: Failure,
    now: datetime,
    expiration: datetime | None,
) -> timedelta | None:
    """The delay before attempt `attempt + 1`, or None when no retry is allowed."""
    if failure.non_retryable or failure.type in policy.non_retryable_error_types:
        return None
    if policy.maximum_attempts and attempt >= policy.maximum_attempts:
        return None
    if failure.next_retry_delay is not None:
        delay = failure.next_retry_delay
    else:
        seconds = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** (attempt - 1)
        cap = policy.maximum_interval
        delay = timedelta(seconds=seconds)
        if cap is not None and delay > cap:
            delay = cap
    if expiration is not None and now + delay >= expiration:
        return None
    return delay
