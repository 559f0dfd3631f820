from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tidal_timer.heap import Entry, TimerHeap

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def keys(entries: list[Entry[Any]]) -> list[str]:
    return [e.key for e in entries]


def test_pop_due_returns_due_entries_in_order_and_keeps_the_rest() -> None:
    h: TimerHeap[str] = TimerHeap()
    h.schedule("c", at(3), "C")
    h.schedule("a", at(1), "A")
    h.schedule("b", at(2), "B")
    assert h.next_due() == at(1)
    assert h.pop_due(at(0.5)) == []
    popped = h.pop_due(at(2))
    assert keys(popped) == ["a", "b"]
    assert [e.value for e in popped] == ["A", "B"]
    assert len(h) == 1 and "c" in h and h.next_due() == at(3)


def test_due_time_is_inclusive() -> None:
    h: TimerHeap[None] = TimerHeap()
    h.schedule("a", at(1), None)
    assert keys(h.pop_due(at(1))) == ["a"]


def test_schedule_is_an_upsert_by_key() -> None:
    h: TimerHeap[str] = TimerHeap()
    h.schedule("a", at(5), "old")
    h.schedule("a", at(1), "new")
    assert len(h) == 1
    assert h.next_due() == at(1)
    popped = h.pop_due(at(10))
    assert [(e.key, e.value) for e in popped] == [("a", "new")]
    assert h.pop_due(at(10)) == [] and h.next_due() is None


def test_moving_a_timer_later_hides_the_earlier_heap_item() -> None:
    h: TimerHeap[None] = TimerHeap()
    h.schedule("a", at(1), None)
    h.schedule("a", at(5), None)
    assert h.next_due() == at(5)
    assert h.pop_due(at(2)) == []
    assert keys(h.pop_due(at(5))) == ["a"]


def test_schedule_reports_whether_the_earliest_due_time_moved_earlier() -> None:
    h: TimerHeap[None] = TimerHeap()
    assert h.schedule("a", at(5), None) is True
    assert h.schedule("b", at(7), None) is False
    assert h.schedule("c", at(2), None) is True
    # Same key, same time: a no-op (window reloads and redeliveries repeat themselves).
    assert h.schedule("c", at(2), None) is False


def test_rescheduling_the_same_time_keeps_the_entry_version() -> None:
    h: TimerHeap[str] = TimerHeap()
    h.schedule("a", at(1), "x")
    first = h.get("a")
    h.schedule("a", at(1), "x")
    assert h.get("a") is first


def test_cancel_removes_and_is_idempotent() -> None:
    h: TimerHeap[None] = TimerHeap()
    h.schedule("a", at(1), None)
    h.schedule("b", at(2), None)
    assert h.cancel("a") is True
    assert h.cancel("a") is False
    assert h.cancel("missing") is False
    assert h.next_due() == at(2)
    assert keys(h.pop_due(at(10))) == ["b"]


def test_peek_then_forget_removes_only_what_was_peeked() -> None:
    h: TimerHeap[str] = TimerHeap()
    h.schedule("a", at(1), "v1")
    h.schedule("b", at(1), "v1")
    due = h.peek_due(at(1))
    assert keys(due) == ["a", "b"] and len(h) == 2  # peek leaves them in place
    # While the fires are being published, "a" is rescheduled and "b" cancelled.
    h.schedule("a", at(9), "v2")
    h.cancel("b")
    assert h.forget(due) == 0
    entry = h.get("a")
    assert entry is not None and entry.value == "v2" and entry.due == at(9)


def test_peek_limit() -> None:
    h: TimerHeap[int] = TimerHeap()
    for i in range(10):
        h.schedule(f"k{i}", at(i), i)
    assert keys(h.peek_due(at(100), limit=3)) == ["k0", "k1", "k2"]
    assert keys(h.pop_due(at(100), limit=4)) == ["k0", "k1", "k2", "k3"]
    assert len(h) == 6


def test_groups_count_and_drop() -> None:
    h: TimerHeap[None] = TimerHeap()
    h.schedule("a", at(1), None, group=0)
    h.schedule("b", at(2), None, group=1)
    h.schedule("c", at(3), None, group=1)
    assert (h.count(0), h.count(1), h.count(2)) == (1, 2, 0)
    assert h.drop_group(1) == 2
    assert h.count(1) == 0 and len(h) == 1
    assert keys(h.pop_due(at(10))) == ["a"]
    assert h.count(0) == 0
    # Moving a key to another group moves its count.
    h.schedule("x", at(1), None, group=0)
    h.schedule("x", at(1), None, group=5)
    assert (h.count(0), h.count(5)) == (0, 1)


def test_lazy_deletion_is_compacted_under_churn() -> None:
    h: TimerHeap[None] = TimerHeap()
    for i in range(1000):
        h.schedule("same", at(i), None)
    assert len(h) == 1
    assert len(h._heap) <= 130  # rebuilt whenever dead items outnumber live ones (and > 64)


def test_matches_a_reference_model_under_random_operations() -> None:
    rng = random.Random(7)
    h: TimerHeap[int] = TimerHeap()
    model: dict[str, datetime] = {}
    now = 0.0
    for step in range(5000):
        op = rng.random()
        key = f"k{rng.randrange(60)}"
        if op < 0.5:
            due = at(now + rng.uniform(-5, 30))
            h.schedule(key, due, step)
            model[key] = due
        elif op < 0.7:
            assert h.cancel(key) == (key in model)
            model.pop(key, None)
        else:
            now += rng.uniform(0, 5)
            popped = h.pop_due(at(now))
            expected = sorted((d, k) for k, d in model.items() if d <= at(now))
            assert [(e.due, e.key) for e in popped] == expected
            for _, k in expected:
                del model[k]
        assert len(h) == len(model)
        assert h.next_due() == (min(model.values()) if model else None)


def test_claimed_entries_are_not_due_again_until_unclaimed_or_forgotten() -> None:
    """The firing loop claims what it publishes and goes on; a failed publish gives it back."""
    h: TimerHeap[None] = TimerHeap()
    for k, s in (("a", 1), ("b", 2), ("c", 3)):
        h.schedule(k, at(s), None)
    first = h.claim_due(at(2))
    assert keys(first) == ["a", "b"]
    # Still held (counted, found), but neither due nor the next due time.
    assert len(h) == 3 and "a" in h and h.claimed(first[0])
    assert h.peek_due(at(10)) == [h.get("c")] and h.next_due() == at(3)
    assert keys(h.claim_due(at(10))) == ["c"]
    assert h.next_due() is None and h.claim_due(at(10)) == []
    assert h.unclaim(first) == 2
    assert keys(h.peek_due(at(10))) == ["a", "b"] and h.next_due() == at(1)
    assert h.unclaim(first) == 0  # not claimed any more: a no-op


def test_a_claimed_entry_rescheduled_or_cancelled_meanwhile_does_not_come_back() -> None:
    h: TimerHeap[str] = TimerHeap()
    h.schedule("a", at(1), "v1", group=0)
    h.schedule("b", at(1), "v1", group=0)
    h.schedule("c", at(1), "v1", group=1)
    claimed = h.claim_due(at(1))
    h.schedule("a", at(5), "v2", group=0)  # a newer arming of the same key
    h.cancel("b")
    h.drop_group(1)
    assert h.unclaim(claimed) == 0
    assert [(e.key, e.value) for e in h.peek_due(at(10))] == [("a", "v2")]
    # The same key at the same time (a redelivery) while claimed keeps the claimed entry.
    again = h.claim_due(at(10))
    h.schedule("a", at(5), "v2", group=0)
    assert h.peek_due(at(10)) == [] and h.forget(again) == 1 and len(h) == 0


def test_claims_match_a_reference_model_under_random_operations() -> None:
    rng = random.Random(11)
    h: TimerHeap[int] = TimerHeap()
    model: dict[str, datetime] = {}
    in_flight: list[list[Entry[int]]] = []
    now = 0.0
    for step in range(5000):
        op = rng.random()
        key = f"k{rng.randrange(40)}"
        if op < 0.4:
            due = at(now + rng.uniform(-5, 30))
            h.schedule(key, due, step)
            model[key] = due
        elif op < 0.5:
            assert h.cancel(key) == (key in model)
            model.pop(key, None)
        elif op < 0.75:
            now += rng.uniform(0, 5)
            claimed = h.claim_due(at(now), limit=rng.choice([None, 3]))
            assert not {e.key for e in claimed} & {e.key for b in in_flight for e in b if h.current(e)}
            in_flight.append(claimed)
        elif in_flight:
            batch = in_flight.pop(rng.randrange(len(in_flight)))
            if rng.random() < 0.5:
                h.unclaim(batch)  # publish failed: due again
            else:
                h.forget(batch)  # confirmed
                for e in batch:
                    if e.key not in h:
                        model.pop(e.key, None)
        assert len(h) == len(model)
        claimed_keys = {e.key for b in in_flight for e in b if h.current(e) and h.claimed(e)}
        free = {k: d for k, d in model.items() if k not in claimed_keys}
        assert h.next_due() == (min(free.values()) if free else None)
        assert sorted((e.due, e.key) for e in h.peek_due(at(now))) == sorted(
            (d, k) for k, d in free.items() if d <= at(now)
        )
