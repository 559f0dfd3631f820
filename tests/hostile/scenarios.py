"""Scenarios run in both modes (embedded and the real stack): the hand-made hostile inputs are
refused at the edge, and afterwards every shard still runs workflows."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import httpx
import jsonschema
from tidal.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from tidal.exceptions import CancelledError, RPCError, WorkflowFailureError
from tidal.worker import Worker
from tidal_schema import events as ev

from tests.hostile import cases
from tests.hostile.workflows import (
    TASK_QUEUE,
    GrowingMemoWorkflow,
    HostileWorkflow,
    HugeFailureWorkflow,
    OversleepWorkflow,
    UpdateCounterWorkflow,
    WaitForCancelWorkflow,
    one_id_per_shard,
)
from tests.support.stack import wait_for

# The documented dead-letter reason form (docs/commands.md).
REASON = re.compile(r"^[a-z_]+: .+", re.DOTALL)


async def http_cases_are_refused(http: httpx.AsyncClient) -> None:
    failures = []
    for case in cases.HTTP_CASES:
        try:
            await cases.check_http_case(http, case)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


async def command_cases_are_rejected(call: cases.CommandCall, reasons: Sequence[str]) -> None:
    failures = []
    for case in cases.COMMAND_CASES:
        try:
            await cases.check_command_case(call, case)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
    await wait_for(
        lambda: len(reasons) >= len(cases.COMMAND_CASES),
        timeout=30,
        what="a dead letter per rejected command",
    )
    assert all(REASON.match(r) for r in reasons), reasons


DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


async def histories_match_the_document(http: httpx.AsyncClient, workflow_ids: Sequence[str]) -> None:
    """`GET .../history` answers what docs/openapi.json says (`HistoryPage`), event by event."""
    components = json.loads(DOCUMENT.read_text())["components"]
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/HistoryPage", "components": components}
    )
    for wid in workflow_ids:
        response = await http.get(f"{cases.API}/workflows/{wid}/history")
        assert response.status_code == 200, response.text
        errors = [
            f"{list(e.absolute_path)}: {e.message[:300]}" for e in validator.iter_errors(response.json())
        ]
        assert not errors, f"{wid}: " + "\n".join(errors[:5])


async def every_shard_still_completes(client: Client, shard_count: int) -> list[str]:
    ids = one_id_per_shard(f"after-{uuid.uuid4().hex[:8]}", shard_count)
    handles = [
        await client.start_workflow(HostileWorkflow.run, wid, id=wid, task_queue=TASK_QUEUE) for wid in ids
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=120)
    assert results == [f"ok {wid}" for wid in ids]
    return ids


async def oversleep_fails_the_workflow_task(client: Client) -> str:
    """workflow.sleep beyond the maximum duration fails the workflow task in the worker with a
    clear cause (visible in history) instead of reaching history's timer arithmetic."""
    wid = f"oversleep-{uuid.uuid4()}"
    handle = await client.start_workflow(OversleepWorkflow.run, id=wid, task_queue=TASK_QUEUE)

    async def failed_task_recorded() -> bool:
        history = await handle.fetch_history()
        return any(
            isinstance(e.attributes, ev.WorkflowTaskFailed)
            and e.attributes.failure is not None
            and "exceeds the maximum duration" in e.attributes.failure.message
            for e in history.events
        )

    await wait_for(failed_task_recorded, timeout=60, interval=0.2, what="WorkflowTaskFailed naming the limit")
    history = await handle.fetch_history()
    assert not any(isinstance(e.attributes, ev.TimerStarted) for e in history.events)
    await handle.terminate("test done")
    return wid


async def huge_activity_failures_are_bounded(client: Client) -> list[str]:
    """An activity failure with 6 MB of details, one with 6 MB of unsent heartbeat details and a
    heartbeat of 6 MB fail the activity once with the limit named (not retried), and no event
    holds them."""
    ids: list[str] = []
    expected = {
        "details": "ServerError: Failure exceeds size limit.",
        "heartbeat": "ServerError: Heartbeat details exceed size limit.",
        "heartbeat message": "ServerError: Heartbeat details exceed size limit.",
    }
    for kind, prefix in expected.items():
        wid = f"huge-failure-{kind.replace(' ', '-')}-{uuid.uuid4()}"
        result = await asyncio.wait_for(
            client.execute_workflow(HugeFailureWorkflow.run, kind, id=wid, task_queue=TASK_QUEUE), timeout=120
        )
        assert result.startswith(prefix), result
        history = await client.get_workflow_handle(wid).fetch_history()
        sizes = {e.event_id: len(e.model_dump_json()) for e in history.events}
        assert max(sizes.values()) < 64 * 1024, sizes
        failed = [e.attributes for e in history.events if isinstance(e.attributes, ev.ActivityTaskFailed)]
        assert len(failed) == 1 and failed[0].failure.non_retryable, failed
        ids.append(wid)
    return ids


async def a_memo_growing_past_the_limit_fails_the_workflow_task(client: Client) -> str:
    """Upserts that keep the memo under 2 MiB apply; the one that takes it past fails the
    workflow task with Temporal's cause, and the memo stays as it was."""
    wid = f"growing-memo-{uuid.uuid4()}"
    handle = await client.start_workflow(GrowingMemoWorkflow.run, id=wid, task_queue=TASK_QUEUE)

    async def refused() -> bool:
        history = await handle.fetch_history()
        return any(
            isinstance(e.attributes, ev.WorkflowTaskFailed)
            and e.attributes.cause == "BadModifyWorkflowPropertiesAttributes"
            for e in history.events
        )

    await wait_for(refused, timeout=60, interval=0.2, what="WorkflowTaskFailed naming the memo limit")
    history = await handle.fetch_history()
    failed = [e.attributes for e in history.events if isinstance(e.attributes, ev.WorkflowTaskFailed)]
    assert failed[0].failure is not None and "memo" in failed[0].failure.message, failed[0]
    modified = [e for e in history.events if isinstance(e.attributes, ev.WorkflowPropertiesModified)]
    assert len(modified) == 3, [e.attributes.type for e in history.events]
    memo = await (await handle.describe()).memo()
    assert sorted(memo) == ["b"], sorted(memo)
    await handle.terminate("test done")
    return wid


async def a_schedule_with_oversized_static_details_is_refused(client: Client) -> None:
    """A schedule action's static details of 50,000 characters: its runs could never start (a
    start takes at most 10,000), so the create is refused with the field named. Accepted before,
    every action then failed inside history."""
    sid = f"hostile-schedule-{uuid.uuid4().hex[:8]}"
    action = ScheduleActionStartWorkflow(
        HostileWorkflow.run, "scheduled", id=f"{sid}-wf", task_queue=TASK_QUEUE, static_details="d" * 50_000
    )
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))])
    try:
        handle = await client.create_schedule(sid, Schedule(action=action, spec=spec))
    except RPCError as err:
        assert "static_details" in str(err), err
        return
    # Accepted: its first action must still start a run (it could not, before the fix).
    try:

        async def took_an_action() -> bool:
            return (await handle.describe()).info.num_actions > 0

        await wait_for(took_an_action, timeout=20, interval=0.5, what="the schedule's first run")
    finally:
        await handle.delete()


async def cancels_right_after_start_are_never_lost(client: Client, count: int = 100) -> None:
    """`count` runs each cancelled the moment their start is answered (before, or while, their
    first workflow task runs), all at once: every acknowledged cancel reaches its run, which ends
    canceled with WorkflowExecutionCancelRequested in its history."""

    async def start_and_cancel(i: int) -> str:
        wid = f"cancel-at-start-{uuid.uuid4().hex[:8]}-{i}"
        handle = await client.start_workflow(WaitForCancelWorkflow.run, id=wid, task_queue=TASK_QUEUE)
        await handle.cancel()
        return wid

    ids = await asyncio.gather(*(start_and_cancel(i) for i in range(count)))

    async def outcome(wid: str) -> str:
        handle = client.get_workflow_handle(wid)
        try:
            await asyncio.wait_for(handle.result(), timeout=120)
        except WorkflowFailureError as err:
            if not isinstance(err.cause, CancelledError):
                return f"{wid}: failed with {err.cause!r}"
        else:
            return f"{wid}: completed"
        history = await handle.fetch_history()
        if not any(isinstance(e.attributes, ev.WorkflowExecutionCancelRequested) for e in history.events):
            return f"{wid}: no WorkflowExecutionCancelRequested"
        return ""

    lost = [o for o in await asyncio.gather(*(outcome(w) for w in ids)) if o]
    assert not lost, lost


async def updates_admitted_past_the_bus_limit_all_reach_the_workflow(
    client: Client, http: httpx.AsyncClient, count: int = 10, size: int = 1_900_000
) -> str:
    """`count` updates of `size` bytes each admitted while no worker serves the run (each
    acknowledged): together past the 16 MiB bus limit. Before, the workflow task carrying them
    all could never be published (the outbox dead-lettered it as too large, on every retry of
    the task): the run never ran again and no update was ever applied. Now a task carries what
    fits and the next one the rest. And as Temporal, an 11th update in flight is refused (429
    `resource_exhausted`, nothing admitted), while the SDK's update retries until there is
    room."""
    wid = f"big-updates-{uuid.uuid4().hex[:8]}"
    queue = f"{TASK_QUEUE}-updates-{uuid.uuid4().hex[:6]}"  # nobody serves it yet
    handle = await client.start_workflow(UpdateCounterWorkflow.run, count + 1, id=wid, task_queue=queue)
    for i in range(count):
        response = await http.post(
            f"{cases.API}/workflows/{wid}/update",
            json={"name": "take", "update_id": f"u{i}", "args": ["x" * size], "wait": 0},
        )
        assert response.status_code == 200, response.text[:300]
    response = await http.post(
        f"{cases.API}/workflows/{wid}/update",
        json={"name": "take", "update_id": "one-too-many", "args": ["x"], "wait": 0},
    )
    assert response.status_code == 429 and response.json()["code"] == "resource_exhausted", response.text
    # The SDK retries that until the worker completed some (the run waits for `count` + 1).
    late = asyncio.ensure_future(handle.execute_update(UpdateCounterWorkflow.take, "late", id="late"))
    await asyncio.sleep(0.5)
    assert not late.done()
    async with Worker(client, task_queue=queue, workflows=[UpdateCounterWorkflow]):
        assert await asyncio.wait_for(late, timeout=180) == 4
        assert await asyncio.wait_for(handle.result(), timeout=180) == count + 1
    history = await handle.fetch_history()
    accepted = [e for e in history.events if isinstance(e.attributes, ev.WorkflowExecutionUpdateAccepted)]
    assert len(accepted) == count + 1, len(accepted)
    assert "one-too-many" not in {e.attributes.update_id for e in accepted}  # type: ignore[attr-defined]
    return wid
