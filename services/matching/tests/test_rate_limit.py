"""The pure task-queue rate state: the token bucket and the declared rates (time is a number
the test gives, as a FakeClock's would be)."""

from __future__ import annotations

import itertools

import pytest
from tidal_matching.rate_limit import DeclaredRates, TokenBucket, release_prefetch


def test_a_full_bucket_lets_its_burst_through_then_one_per_interval() -> None:
    bucket = TokenBucket.full(rate=2, now=0.0)
    assert bucket.burst == 2  # Temporal's: ceil(rate), at least 1
    starts: list[float] = []
    now = 0.0
    while len(starts) < 10:
        wait = bucket.wait(now)
        if wait > 0:
            now += wait
            continue
        bucket = bucket.take(now)
        starts.append(now)
    assert starts[:2] == [0.0, 0.0]
    assert starts[-1] == pytest.approx(4.0)  # 10 tasks at 2/s: the last 4 s after the first
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts[1:])] == [0.5] * 8


@pytest.mark.parametrize(("rate", "burst"), [(0.1, 1), (1, 1), (2.5, 3), (100, 100)])
def test_the_burst_is_the_rate_rounded_up(rate: float, burst: float) -> None:
    assert TokenBucket.full(rate=rate, now=0).burst == burst


def test_a_slow_rate_waits_whole_intervals() -> None:
    bucket = TokenBucket.full(rate=0.1, now=100.0).take(100.0)
    assert bucket.wait(100.0) == pytest.approx(10.0)
    assert bucket.wait(105.0) == pytest.approx(5.0)
    assert bucket.wait(110.0) == 0


def test_idle_time_saves_up_at_most_the_burst() -> None:
    bucket = TokenBucket.full(rate=2, now=0).take(0).take(0)
    assert bucket.refilled(3600).tokens == 2


def test_a_clock_that_goes_back_neither_refills_nor_takes_back() -> None:
    bucket = TokenBucket.full(rate=1, now=10).take(10)
    assert bucket.refilled(5).tokens == 0
    assert bucket.wait(5) == pytest.approx(1.0)


def test_a_new_rate_keeps_the_saved_tokens_within_its_burst() -> None:
    bucket = TokenBucket.full(rate=10, now=0)
    slower = bucket.with_rate(1, now=0)
    assert (slower.rate, slower.burst, slower.tokens) == (1, 1, 1)
    faster = slower.take(0).with_rate(4, now=0.5)  # 0.5 s at 1/s saved half a token
    assert faster.burst == 4 and faster.tokens == pytest.approx(0.5)
    assert faster.wait(0.5) == pytest.approx(0.125)


def test_the_last_declaration_wins_and_none_changes_nothing() -> None:
    rates = DeclaredRates(ttl=60, max_task_queues=10)
    key = ("default", "q")
    assert rates.rate(key, 0) is None
    assert rates.declare(key, 5, "w1", 0)
    assert rates.declare(key, 2, "w2", 1)
    assert rates.rate(key, 1) == 2
    assert rates.declare(key, None, "w3", 2)  # a worker without the option
    assert rates.rate(key, 2) == 2
    assert rates.rate(("other", "q"), 2) is None


def test_a_rate_not_declared_again_lapses() -> None:
    rates = DeclaredRates(ttl=60, max_task_queues=10)
    key = ("default", "q")
    rates.declare(key, 5, "w", 0)
    assert rates.lapses_in(key, 50) == 10
    assert rates.rate(key, 60) == 5
    assert rates.rate(key, 60.5) is None and rates.lapses_in(key, 61) == 0
    rates.declare(key, 5, "w", 61)  # declared again: limited again
    assert rates.rate(key, 100) == 5


def test_limited_task_queues_are_bounded_lapsed_ones_make_room() -> None:
    rates = DeclaredRates(ttl=60, max_task_queues=2)
    assert rates.declare(("ns", "a"), 1, "w", 0)
    assert rates.declare(("ns", "b"), 1, "w", 0)
    assert not rates.declare(("ns", "c"), 1, "w", 10)
    assert rates.declare(("ns", "a"), 3, "w", 10)  # a known one is always declared again
    assert rates.declare(("ns", "c"), 1, "w", 65)  # "b" lapsed at 60
    assert sorted(rates.keys()) == [("ns", "a"), ("ns", "c")]


@pytest.mark.parametrize(
    ("rate", "prefetch"), [(0.01, 1), (2, 1), (10, 1), (20, 2), (200, 20), (1e6, 32), (None, 32)]
)
def test_the_release_prefetch_grows_with_the_rate_within_bounds(rate: float | None, prefetch: int) -> None:
    assert release_prefetch(rate) == prefetch
