"""The ScheduleTimers of one publish go to each timer shard as one message (coalesce.py)."""

from datetime import UTC, datetime, timedelta

from tidal_history import coalesce
from tidal_schema import names
from tidal_schema.messages import TIMER_MESSAGE, FireTimer, ScheduleTimer, ScheduleTimers, TimerKind

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _row(shard: int, i: int) -> tuple[str, bytes, dict[str, str]]:
    fire = FireTimer(workflow_id=f"w{i}", run_id="r", kind=TimerKind.USER_TIMER, key=f"k{i}", timer_id=str(i))
    sched = ScheduleTimer(shard_id=shard, key=f"k{i}", fire_at=T0 + timedelta(seconds=i), fire=fire)
    return names.shard_routing_key(shard), sched.model_dump_json().encode(), {"traceparent": f"t{i}"}


def test_one_message_per_timer_shard() -> None:
    rows = [_row(0, 1), _row(1, 2), _row(0, 3), _row(0, 4)]
    assert all(coalesce.is_schedule_timer(names.TIMER_EXCHANGE, body) for _, body, _ in rows)
    out = coalesce.timer_messages(rows, max_bytes=1 << 20)
    assert [m.routing_key for m in out] == ["shard.0", "shard.1"]
    merged = TIMER_MESSAGE.validate_json(out[0].body)
    assert isinstance(merged, ScheduleTimers) and [t.key for t in merged.timers] == ["k1", "k3", "k4"]
    assert out[0].headers == {"traceparent": "t1"}
    # A lone timer goes as it was.
    assert isinstance(TIMER_MESSAGE.validate_json(out[1].body), ScheduleTimer)


def test_the_bounds_start_another_message() -> None:
    rows = [_row(0, i) for i in range(7)]
    by_count = coalesce.timer_messages(rows, max_bytes=1 << 20, max_timers=3)
    assert [len(TIMER_MESSAGE.validate_json(m.body).timers) for m in by_count[:2]] == [3, 3]  # type: ignore[union-attr]
    assert isinstance(TIMER_MESSAGE.validate_json(by_count[2].body), ScheduleTimer)
    one = len(rows[0][1])
    by_bytes = coalesce.timer_messages(rows, max_bytes=2 * one + 60)
    assert all(len(m.body) <= 2 * one + 60 for m in by_bytes) and len(by_bytes) == 4
    keys = [t.key for m in by_bytes for t in _timers(m.body)]
    assert keys == [f"k{i}" for i in range(7)]


def test_other_messages_are_not_timers() -> None:
    assert not coalesce.is_schedule_timer(names.MATCHING_EXCHANGE, _row(0, 1)[1])
    assert not coalesce.is_schedule_timer(names.TIMER_EXCHANGE, b'{"schema_version":1,"type":"CancelTimer"}')


def _timers(body: bytes) -> list[ScheduleTimer]:
    msg = TIMER_MESSAGE.validate_json(body)
    return list(msg.timers) if isinstance(msg, ScheduleTimers) else [msg]  # type: ignore[list-item]
