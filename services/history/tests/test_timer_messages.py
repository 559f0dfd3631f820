"""Which timers become a ScheduleTimer message: only those due before history's `now` plus
`MESSAGE_HORIZON` (tidal_server.timer_horizon); every timer still gets its row. The timer
service reads the rest from the table before they are due (services/timer)."""

from datetime import timedelta

from tidal_schema import commands as cmd
from tidal_schema import names
from tidal_schema.messages import ScheduleTimer, TimerKind
from tidal_server.timer_horizon import LOAD_AHEAD, MESSAGE_HORIZON, needs_message

from tests.support.history_run import T0, Run


def _messages(run: Run) -> list[ScheduleTimer]:
    out = [o.message for o in run.last.outbox if isinstance(o.message, ScheduleTimer)]
    assert all(
        o.exchange == names.TIMER_EXCHANGE for o in run.last.outbox if isinstance(o.message, ScheduleTimer)
    )
    return out


def test_the_horizon_leaves_a_margin_over_the_timer_services_reads() -> None:
    assert MESSAGE_HORIZON > LOAD_AHEAD
    assert needs_message(T0 + MESSAGE_HORIZON - timedelta(microseconds=1), T0)
    assert not needs_message(T0 + MESSAGE_HORIZON, T0)
    assert needs_message(T0 - timedelta(days=1), T0)  # overdue: always sent


def test_a_ten_second_task_timeout_gets_its_row_and_no_message() -> None:
    run = Run()
    (timeout,) = run.last.timers_set
    assert timeout.fire.kind is TimerKind.WORKFLOW_TASK_TIMEOUT
    assert timeout.fire_at == T0 + timedelta(seconds=10)
    assert _messages(run) == []


def test_a_short_user_timer_is_sent_and_a_long_one_is_not() -> None:
    run = Run()
    run.complete(
        cmd.StartTimer(timer_id="short", start_to_fire_timeout=timedelta(seconds=1)),
        cmd.StartTimer(timer_id="long", start_to_fire_timeout=timedelta(minutes=5)),
    )
    user = [t for t in run.last.timers_set if t.fire.kind is TimerKind.USER_TIMER]
    assert sorted(t.fire.timer_id or "" for t in user) == ["long", "short"]
    assert [m.fire.timer_id for m in _messages(run)] == ["short"]


def test_an_activity_with_the_usual_timeouts_sends_no_timer_message() -> None:
    run = Run()
    run.complete(
        cmd.ScheduleActivityTask(
            activity_id="1",
            activity_type="greet",
            task_queue="q",
            start_to_close_timeout=timedelta(seconds=30),
        )
    )
    kinds = {t.fire.kind for t in run.last.timers_set}
    assert TimerKind.ACTIVITY_TIMEOUT in kinds
    assert _messages(run) == []
