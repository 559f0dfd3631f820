"""Attacks on the first result poll of a run this frontend started (notifications.ClosedWaiters
`starting` / `take_started`): a close that comes twice, before the start's reply, for another run
of the same workflow id, and more starts in flight than the bounds keep. A poll is answered from
a close kept for it, or reads as before; it never waits for a close that already came."""

from __future__ import annotations

import contextlib

import pytest
from tidal_frontend.notifications import ClosedWaiters
from tidal_schema.common import WorkflowExecutionStatus as S
from tidal_schema.messages import WorkflowClosed


def _close(workflow_id: str, run_id: str) -> WorkflowClosed:
    return WorkflowClosed(namespace="ns", workflow_id=workflow_id, run_id=run_id, status=S.COMPLETED)


def test_a_close_forgotten_before_its_start_reply_is_not_turned_into_a_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three closes before their starts' replies, two kept: the forgotten one's reply used to
    mark its run "started here, close not come yet", so its first poll waited UNREAD_WAIT_SECONDS
    (2 s) for a close that had come and gone before reading the run."""
    monkeypatch.setattr("tidal_frontend.notifications.CLOSES_KEPT", 2)
    waiters = ClosedWaiters()
    with contextlib.ExitStack() as stack:
        started = {w: stack.enter_context(waiters.starting("ns", w)) for w in "abc"}
        for w in "abc":
            waiters.dispatch(_close(w, "r"))
        for w in "abc":
            started[w]("r")
    assert waiters.take_started(("ns", "a", "r")) == (False, None)  # reads as before, at once
    for w in "bc":
        known, close = waiters.take_started(("ns", w, "r"))
        assert known and close is not None and close.workflow_id == w
    assert not waiters._started and not waiters._forgotten


def test_closes_twice_and_of_other_runs_of_the_workflow_id_answer_only_their_own_run() -> None:
    waiters = ClosedWaiters()
    with waiters.starting("ns", "w") as started:
        waiters.dispatch(_close("w", "old"))  # the run this start replaced (e.g. terminated)
        waiters.dispatch(_close("w", "old"))  # delivered twice
        started("new")
    assert waiters.take_started(("ns", "w", "new")) == (True, None)  # waits for its own close
    known, close = waiters.take_started(("ns", "w", "old"))
    assert known and close is not None and close.run_id == "old"  # the real close of that run
    waiters.dispatch(_close("w", "new"))  # after its poll took the entry: not kept again
    assert waiters.take_started(("ns", "w", "new")) == (False, None)
    assert not waiters._started and not waiters._closes and not waiters._starting


def test_ten_thousand_and_one_starts_in_flight_stay_bounded() -> None:
    waiters = ClosedWaiters()
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(waiters.starting("ns", f"w{i}")) for i in range(10_001)]
        for i, one in enumerate(started):
            one(f"r{i}")
        assert len(waiters._starting) == 10_001
    assert not waiters._starting
    assert len(waiters._started) == 10_000
    assert waiters.take_started(("ns", "w0", "r0")) == (False, None)  # the oldest forgotten
    assert waiters.take_started(("ns", "w10000", "r10000")) == (True, None)
