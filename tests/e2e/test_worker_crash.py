"""SIGKILL of the worker process mid-workflow, on the real stack: a new worker replays the run
from history and finishes it; nothing is lost or applied twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tidal.client import Client
from tidal.worker import Replayer

from tests.support.crash_worker import (
    FUSED_KILL_ENV,
    TASK_QUEUE,
    CrashSurvivor,
    EagerVictim,
    FusedVictim,
)
from tests.support.stack import ROOT, Stack, wait_for


def start_worker(
    stack: Stack, key: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = open(_log_path(stack, key), "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_worker", stack.address, *args],
        cwd=ROOT,
        env=stack.env(**(env or {})),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.procs[key] = proc
    return proc


def _log_path(stack: Stack, key: str) -> Path:
    return stack.log_dir / f"tidal-{key}-{os.getpid()}.log"


async def test_worker_killed_after_an_eager_start_loses_nothing(running: Stack) -> None:
    """A worker process starts a workflow eagerly (the first task comes back in the start's
    reply, for its own worker) and is SIGKILLed before that worker completes it (the worker has
    taken it when the start returns; its completion needs the loop again). The task was never in
    a queue, so nothing redelivers it: the workflow task timeout (2 s) records
    WorkflowTaskTimedOut and hands attempt 2 to a second worker process through matching."""
    workflow_id = f"eager-start-crash-{uuid.uuid4()}"
    start_worker(running, "eager-worker-2")
    await wait_for(
        lambda: "worker ready" in _log_path(running, "eager-worker-2").read_text(),
        timeout=120,
        what="the second worker",
    )
    proc = start_worker(running, "eager-starter", workflow_id)
    await wait_for(lambda: proc.poll() is not None, timeout=120, what="the starter to kill itself")
    assert proc.returncode == -signal.SIGKILL
    assert "eager granted=True" in _log_path(running, "eager-starter").read_text()
    client = await Client.connect(running.address)
    try:
        handle = client.get_workflow_handle(workflow_id)
        assert await handle.result() == "Hello, eager!"
        events = (await handle.fetch_history()).events
        types = [e.event_type for e in events]
        # The eager task died with the starter; attempt 2 went through matching to the second worker (on a
        # loaded box a later attempt may time out too: the timeout counts from scheduling).
        assert types[:5] == [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
            "WorkflowTaskTimedOut",
            "WorkflowTaskScheduled",
        ]
        assert events[4].attributes.attempt == 2  # type: ignore[union-attr]
        assert types[-3:] == ["WorkflowTaskStarted", "WorkflowTaskCompleted", "WorkflowExecutionCompleted"]
        assert types.count("WorkflowTaskCompleted") == 1 and types.count("WorkflowExecutionStarted") == 1
        assert types.count("WorkflowTaskScheduled") == types.count("WorkflowTaskTimedOut") + 1
    finally:
        await client.close()


async def test_worker_killed_with_pending_timer_activity_and_signals(running: Stack, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    client = await Client.connect(running.address)
    try:
        start_worker(running, "worker-1")
        handle = await client.start_workflow(
            CrashSurvivor.run, str(markers), id=f"crash-{uuid.uuid4()}", task_queue=TASK_QUEUE
        )
        await wait_for(
            lambda: (markers / "attempt-1").exists(), timeout=60, what="the first activity attempt to start"
        )
        running.kill("worker-1")  # SIGKILL: no goodbye, the activity attempt dies with it

        # Signals while no worker runs: the first schedules a workflow task nobody takes, the
        # second arrives while that task is outstanding and is buffered by history.
        await handle.signal(CrashSurvivor.poke, "a")
        await handle.signal(CrashSurvivor.poke, "b")
        (markers / "release").touch()
        start_worker(running, "worker-2")

        result = await handle.result()
        assert result["signals"] == ["a", "b"]
        # The attempt died with the process. Its task was unacked, so the broker hands it to the
        # new worker (attempt 1 again), unless the start-to-close timeout retried it first.
        assert result["activity"] in ("done on attempt 1", "done on attempt 2", "done on attempt 3")

        events = (await handle.fetch_history()).events
        types = [e.event_type for e in events]
        assert [e.event_id for e in events] == list(range(1, len(events) + 1))
        assert types.count("ActivityTaskScheduled") == 1
        assert types.count("ActivityTaskCompleted") == 1
        assert types.count("TimerStarted") == 1 and types.count("TimerFired") == 1
        assert types.count("WorkflowExecutionSignaled") == 2
        assert types[-1] == "WorkflowExecutionCompleted"
    finally:
        await client.close()


async def test_worker_killed_holding_an_eager_activity_retries_it(running: Stack, tmp_path: Path) -> None:
    """The activity was handed straight to worker-1 (eager: its sticky queue, no matching); the
    SIGKILL takes the task with the worker's exclusive queue, so nothing redelivers attempt 1:
    the start-to-close timeout retries it through matching and worker-2 runs attempt 2."""
    markers = tmp_path / "markers"
    markers.mkdir()
    client = await Client.connect(running.address)
    try:
        start_worker(running, "worker-1")
        handle = await client.start_workflow(
            EagerVictim.run, str(markers), id=f"eager-crash-{uuid.uuid4()}", task_queue=TASK_QUEUE
        )
        await wait_for(
            lambda: (markers / "attempt-1").exists(), timeout=60, what="the eager attempt to start"
        )
        running.kill("worker-1")
        (markers / "release").touch()
        start_worker(running, "worker-2")
        # Attempt 2 normally; on a loaded box worker-2 can start after attempt 2's start-to-close
        # (3 s) ran out too, and attempt 3 is the one that completes. Never attempt 1: it died.
        result = await handle.result()
        assert result in ("done on attempt 2", "done on attempt 3")
        events = (await handle.fetch_history()).events
        types = [e.event_type for e in events]
        assert types.count("ActivityTaskScheduled") == 1 and types.count("ActivityTaskCompleted") == 1
        (started,) = [e for e in events if e.event_type == "ActivityTaskStarted"]
        assert result == f"done on attempt {started.attributes.attempt}"  # type: ignore[union-attr]
        assert types[-1] == "WorkflowExecutionCompleted"
    finally:
        await client.close()


@pytest.mark.parametrize("moment", ["before_publish", "after_confirm"])
async def test_worker_killed_holding_a_fused_completion(running: Stack, tmp_path: Path, moment: str) -> None:
    """worker-1 runs an activity eagerly, runs the next workflow task on its result (the run is
    cached there) and SIGKILLs itself at `moment` of publishing that fused completion (its
    first: normally step 0's, step 1's if step 0's result went alone).

    before_publish: history never hears of the attempt; its queue (worker-1's exclusive sticky
    queue) died with the process, so the start-to-close timeout (3 s) retries it through matching
    and worker-2 runs it again (at least once, as for a plain result). after_confirm: history
    has the result and the task's completion; nothing redelivers the attempt (its queue is gone)
    and the accept deleted its timeout timer, so it never runs again. Either way: one
    ActivityTaskCompleted per activity, and the history replays."""
    markers = tmp_path / "markers"
    markers.mkdir()
    client = await Client.connect(running.address)
    try:
        key = f"fused-1-{moment}"  # (the log is per key and test process, appended to)
        proc = start_worker(running, key, env={FUSED_KILL_ENV: moment})
        log1 = _log_path(running, key)
        await wait_for(lambda: "worker ready" in log1.read_text(), timeout=120, what="worker-1")
        identity1 = log1.read_text().split("worker ready identity=")[-1].split()[0]
        handle = await client.start_workflow(
            FusedVictim.run, str(markers), id=f"fused-crash-{moment}-{uuid.uuid4()}", task_queue=TASK_QUEUE
        )
        await wait_for(lambda: proc.poll() is not None, timeout=60, what="worker-1 to kill itself")
        assert proc.returncode == -signal.SIGKILL
        assert f"fused kill {moment}" in log1.read_text()
        running.procs.pop(key)
        # The step whose result was being fused: the last one worker-1 ran.
        killed = max(int(p.name.split("-")[0].removeprefix("step")) for p in markers.iterdir())
        start_worker(running, f"fused-2-{moment}")

        result = await handle.result()
        history = await handle.fetch_history()
        events = history.events
        types = [e.event_type for e in events]
        assert [e.event_id for e in events] == list(range(1, len(events) + 1))
        assert types.count("ActivityTaskScheduled") == 2 and types.count("ActivityTaskCompleted") == 2
        assert types[-1] == "WorkflowExecutionCompleted" and "WorkflowTaskFailed" not in types
        started = [e for e in events if e.event_type == "ActivityTaskStarted"][killed]
        attempt = started.attributes.attempt  # type: ignore[union-attr]
        assert result[killed] == f"step {killed} on attempt {attempt}"
        runs = sorted(p.name for p in markers.glob(f"step{killed}-*"))
        if moment == "before_publish":
            # (An attempt that timed out queued, on a loaded box, may never have run: not all of
            # 1..attempt need a marker; the first and the completed one do.)
            assert attempt >= 2 and started.attributes.identity != identity1  # type: ignore[union-attr]
            assert runs[0] == f"step{killed}-attempt-1" and f"step{killed}-attempt-{attempt}" in runs
        else:
            assert attempt == 1 and runs == [f"step{killed}-attempt-1"]
            # The fused task as history accepted it: s ActivityTaskStarted, s + 1 Completed,
            # s + 2 WorkflowTaskScheduled, s + 3 WorkflowTaskStarted by worker-1, then Completed.
            s = started.event_id
            assert types[s - 1 : s + 4] == [
                "ActivityTaskStarted",
                "ActivityTaskCompleted",
                "WorkflowTaskScheduled",
                "WorkflowTaskStarted",
                "WorkflowTaskCompleted",
            ]
            assert started.attributes.identity == identity1  # type: ignore[union-attr]
            assert events[s + 2].attributes.identity == identity1  # type: ignore[union-attr]
        await Replayer(workflows=[FusedVictim]).replay_workflow(history)
    finally:
        await client.close()
