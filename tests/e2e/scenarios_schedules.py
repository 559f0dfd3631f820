"""Schedule scenarios, run embedded and on the real stack (test_schedules.py): every one drives
the public SDK (`Client.create_schedule`, `ScheduleHandle`) against a running server and polls
with deadlines; none sleeps as synchronisation."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from tidal import workflow
from tidal.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from tidal.exceptions import RPCError

from tests.e2e.scenarios_visibility import tidal_cli
from tests.support.cli import tidal_cli_in_process
from tests.support.stack import wait_for


@workflow.defn
class Stamp:
    @workflow.run
    async def run(self, label: str) -> str:
        return label


@workflow.defn
class Gate:
    """Runs until signalled: keeps an overlap policy's decision observable."""

    def __init__(self) -> None:
        self.open = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.open)

    @workflow.signal
    def finish(self) -> None:
        self.open = True


WORKFLOWS = [Stamp, Gate]
_NAMED = re.compile(r"^(?P<base>.+)-(?P<t>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$")


def _every(seconds: int) -> ScheduleSpec:
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))])


async def _describe_until(
    handle: object, what: str, check: object, timeout: float = 30.0
) -> ScheduleDescription:
    latest: list[ScheduleDescription] = []

    async def probe() -> bool:
        d = await handle.describe()  # type: ignore[attr-defined]
        latest[:] = [d]
        return bool(check(d))  # type: ignore[operator]

    await wait_for(probe, timeout=timeout, what=what)
    return latest[0]


async def every_second_interval(client: Client, tq: str) -> None:
    """An every-second schedule starts runs named by their nominal time, findable by
    TemporalScheduledById; delete stops it and leaves the runs."""
    sid = f"every-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Stamp.run, "tick", id=f"{sid}-wf", task_queue=tq),
            spec=_every(1),
        ),
    )
    try:
        await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow(Stamp.run, "x", id="x", task_queue=tq), spec=_every(1)
            ),
        )
    except ScheduleAlreadyRunningError:
        pass
    else:
        raise AssertionError("a second create with the same id was accepted")
    desc = await _describe_until(
        handle,
        "three actions with their runs",
        lambda d: sum(1 for a in d.info.recent_actions if a.action.first_execution_run_id) >= 3,
    )
    times = []
    for result in desc.info.recent_actions:
        wid = result.action.workflow_id  # type: ignore[attr-defined]
        m = _NAMED.match(wid)
        assert m and m.group("base") == f"{sid}-wf", wid
        nominal = datetime.strptime(m.group("t"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert nominal == result.scheduled_at, (wid, result.scheduled_at)
        times.append(nominal)
    assert times == sorted(times) and len(set(times)) == len(times)
    assert desc.info.next_action_times and desc.info.next_action_times[0] > times[-1]

    async def listed() -> bool:
        found = [w async for w in client.list_workflows(f"TemporalScheduledById = '{sid}'")]
        return len(found) >= 3 and all(w.id.startswith(f"{sid}-wf-") for w in found)

    await wait_for(listed, timeout=30, what="runs listed by TemporalScheduledById")
    listing = [s async for s in await client.list_schedules()]
    assert sid in [s.id for s in listing]
    await handle.delete()
    try:
        await handle.describe()
    except RPCError as exc:
        assert exc.status == "not_found"
    else:
        raise AssertionError("describe after delete answered")


async def skip_and_buffer_one(client: Client, tq: str) -> None:
    """SKIP: while a run is open, actions are skipped and counted; BUFFER_ONE: exactly one waits
    and starts when the open run closes. The two policies run at once (own schedule ids)."""
    async with asyncio.TaskGroup() as tg:
        for policy in (ScheduleOverlapPolicy.SKIP, ScheduleOverlapPolicy.BUFFER_ONE):
            tg.create_task(_overlap_policy(client, tq, policy))


async def _overlap_policy(client: Client, tq: str, policy: ScheduleOverlapPolicy) -> None:
    sid = f"overlap-{policy.name.lower()}-{uuid.uuid4().hex[:6]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Gate.run, id=f"{sid}-wf", task_queue=tq),
            spec=_every(1),
            policy=SchedulePolicy(overlap=policy),
        ),
    )
    desc = await _describe_until(
        handle,
        f"{policy.name}: three actions skipped behind the first run",
        lambda d: d.info.num_actions_skipped_overlap >= 3 and d.info.running_actions,
    )
    assert desc.info.num_actions == 1, desc.info
    first = desc.info.running_actions[0].workflow_id  # type: ignore[attr-defined]
    if policy is ScheduleOverlapPolicy.BUFFER_ONE:
        assert desc.raw_description["info"]["buffer_size"] == 1
    await handle.pause(note="done measuring")
    await client.get_workflow_handle(first).signal(Gate.finish)
    expected = 2 if policy is ScheduleOverlapPolicy.BUFFER_ONE else 1

    def settled(d: ScheduleDescription, n: int = expected, first: str = first) -> bool:
        running = [r.workflow_id for r in d.info.running_actions]  # type: ignore[attr-defined]
        return d.info.num_actions == n and first not in running and len(running) == n - 1

    desc = await _describe_until(handle, f"{policy.name}: the first run closed", settled)
    assert desc.raw_description["info"]["buffer_size"] == 0
    for r in desc.info.running_actions:
        await client.get_workflow_handle(r.workflow_id).signal(Gate.finish)  # type: ignore[attr-defined]
    await handle.delete()


async def pause_trigger_backfill_update(client: Client, tq: str) -> None:
    sid = f"ops-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Stamp.run, "op", id=f"{sid}-wf", task_queue=tq),
            spec=_every(3600),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            state=ScheduleState(paused=True, note="created paused"),
        ),
    )
    desc = await handle.describe()
    assert desc.schedule.state.paused and desc.schedule.state.note == "created paused"
    await handle.trigger()
    await _describe_until(handle, "the triggered action", lambda d: d.info.num_actions == 1)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    await handle.backfill(ScheduleBackfill(start_at=base, end_at=base + timedelta(hours=2)))
    desc = await _describe_until(handle, "three backfilled actions", lambda d: d.info.num_actions == 4)
    ids = {a.action.workflow_id for a in desc.info.recent_actions}  # type: ignore[attr-defined]
    assert {f"{sid}-wf-2026-01-01T0{h}:00:00Z" for h in range(3)} <= ids, ids
    await handle.unpause(note="live")
    desc = await handle.describe()
    assert not desc.schedule.state.paused and desc.schedule.state.note == "live"

    def to_daily(inp: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = inp.description.schedule
        schedule.spec = _every(86400)
        schedule.state.note = "daily now"
        return ScheduleUpdate(schedule=schedule)

    await handle.update(to_daily)
    desc = await handle.describe()
    assert desc.schedule.state.note == "daily now"
    gaps = {
        (b - a) for a, b in zip(desc.info.next_action_times, desc.info.next_action_times[1:], strict=False)
    }
    assert gaps == {timedelta(days=1)}, gaps
    await handle.delete()


async def concurrent_update_is_refused(client: Client, tq: str, address: httpx.AsyncClient) -> None:
    """Read-modify-write: an update naming an old conflict token gets 412."""
    sid = f"conflict-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Stamp.run, "c", id=sid, task_queue=tq), spec=_every(3600)
        ),
    )
    old = (await handle.describe()).raw_description
    await handle.pause(note="someone else")
    body = {
        "spec": old["spec"],
        "action": old["action"],
        "policies": old["policies"],
        "state": old["state"],
        "conflict_token": old["conflict_token"],
    }
    r = await address.post(f"/api/v1/namespaces/{client.namespace}/schedules/{sid}/update", json=body)
    assert r.status_code == 412 and r.json()["code"] == "conflict", r.text
    await handle.delete()


async def hostile_inputs_are_refused(client: Client, tq: str, http: httpx.AsyncClient) -> None:
    """Bad specs name their field; a NUL id, a huge backfill and an empty one are refused."""
    url = f"/api/v1/namespaces/{client.namespace}/schedules"
    action = {"workflow_type": "Stamp", "workflow_id": "h", "task_queue": tq}
    cases = {
        "spec.intervals.0.every": {"intervals": [{"every": 0}]},
        "spec.cron_expressions": {"cron_expressions": ["61 * * * *"]},
        "spec.time_zone_name": {"cron_expressions": ["0 * * * *"], "time_zone_name": "Mars/Olympus"},
    }
    for field, spec in cases.items():
        r = await http.post(
            url, json={"schedule_id": f"h-{uuid.uuid4().hex[:6]}", "spec": spec, "action": action}
        )
        assert r.status_code == 400 and r.json().get("field", "").startswith(field), (field, r.text)
    r = await http.post(
        url,
        json={
            "schedule_id": "h",
            "spec": {
                "intervals": [{"every": 60}],
                "start_at": "2030-01-01T00:00:00Z",
                "end_at": "2029-01-01T00:00:00Z",
            },
            "action": action,
        },
    )
    assert r.status_code == 400, r.text
    # An id base that leaves no room for "-<nominal time>" in a workflow id (1,000 characters at
    # most) would make every tick fail in history: refused at create.
    long_base = {**action, "workflow_id": "w" * 990}
    r = await http.post(
        url, json={"schedule_id": "long", "spec": {"intervals": [{"every": 60}]}, "action": long_base}
    )
    assert r.status_code == 400 and "workflow_id" in r.text, r.text
    bad_attrs = {**action, "search_attributes": {"Bad Name": 1}}
    r = await http.post(
        url, json={"schedule_id": "attrs", "spec": {"intervals": [{"every": 60}]}, "action": bad_attrs}
    )
    assert r.status_code == 400 and "search attribute" in r.text, r.text
    r = await http.post(
        url, json={"schedule_id": "bad\u0000id", "spec": {"intervals": [{"every": 60}]}, "action": action}
    )
    assert r.status_code == 400, r.text
    sid = f"huge-{uuid.uuid4().hex[:6]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Stamp.run, "h", id=sid, task_queue=tq),
            spec=_every(1),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        await handle.backfill(
            ScheduleBackfill(
                start_at=datetime(2000, 1, 1, tzinfo=UTC), end_at=datetime(2020, 1, 1, tzinfo=UTC)
            )
        )
    except RPCError as exc:
        assert exc.status == "invalid_argument" and "1000" in str(exc), exc
    else:
        raise AssertionError("a 20-year backfill of an every-second schedule was accepted")
    assert (await handle.describe()).info.num_actions == 0
    await handle.delete()


def nominal_of(workflow_id: str) -> datetime:
    m = _NAMED.match(workflow_id)
    assert m, workflow_id
    return datetime.strptime(m.group("t"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def every_second_is_taken_exactly_once(client: Client, sid: str) -> int:
    """After the schedule was paused and its runs closed: one run per second from the first
    action to the last, none twice; returns how many."""
    handle = client.get_schedule_handle(sid)
    desc = await _describe_until(
        handle, "the open runs to close", lambda d: not d.info.running_actions, timeout=60
    )
    taken = desc.info.num_actions

    async def all_listed() -> bool:
        return len([w async for w in client.list_workflows(f"TemporalScheduledById = '{sid}'")]) >= taken

    await wait_for(all_listed, timeout=60, what=f"{taken} runs listed")
    runs = [w async for w in client.list_workflows(f"TemporalScheduledById = '{sid}'")]
    ids = [w.id for w in runs]
    assert len(ids) == len(set(ids)) == taken, f"{len(ids)} runs, {len(set(ids))} ids, {taken} actions"
    times = sorted(nominal_of(i) for i in ids)
    expected = [times[0] + timedelta(seconds=i) for i in range(len(times))]
    missing = sorted(set(expected) - set(times))
    assert times == expected, f"seconds without a run: {missing[:10]}"
    assert desc.info.num_actions_missed_catchup_window == 0 and desc.info.num_actions_skipped_overlap == 0
    return taken


async def the_cli(client: Client, tq: str, address: str) -> None:
    """`tidal schedule ...` against a running server: tables, and --output json for scripts. The
    calls run in this process (tests/support/cli.py) but the last, through `python -m tidal.cli`."""
    sid = f"cli-{uuid.uuid4().hex[:8]}"

    async def cli(*args: str) -> str:
        code, out, err = await tidal_cli_in_process(address, "--namespace", client.namespace, *args)
        assert code == 0, (args, out, err)
        return out

    out = await cli(
        "schedule",
        "create",
        "--id",
        sid,
        "--type",
        "Stamp",
        "--task-queue",
        tq,
        "--workflow-id",
        sid,
        "--interval",
        "1h",
        "--input",
        '"cli"',
        "--paused",
        "--note",
        "from the cli",
    )
    assert f"Created schedule {sid}" in out
    out = await cli("schedule", "describe", "--id", sid)
    assert re.search(r"Paused +yes", out) and re.search(r"Note +from the cli", out) and "Stamp" in out, out
    await cli("schedule", "trigger", "--id", sid)
    await _describe_until(
        client.get_schedule_handle(sid), "the CLI's trigger", lambda d: d.info.num_actions == 1
    )
    await cli(
        "schedule",
        "backfill",
        "--id",
        sid,
        "--start",
        "2026-01-01T00:00:00+00:00",
        "--end",
        "2026-01-01T01:00:00+00:00",
        "--overlap",
        "allow_all",
    )
    await cli("schedule", "update", "--id", sid, "--cron", "30 2 * * *", "--overlap", "allow_all")
    await cli("schedule", "unpause", "--id", sid, "--note", "go")
    data = json.loads(await cli("--output", "json", "schedule", "describe", "--id", sid))
    assert data["spec"]["cron_expressions"] == ["30 2 * * *"] and data["policies"]["overlap"] == "allow_all"
    assert data["state"] == {"paused": False, "note": "go", "limited_actions": False, "remaining_actions": 0}
    assert data["info"]["num_actions"] == 3, data["info"]
    listed = json.loads(await cli("--output", "json", "schedule", "list"))
    assert sid in [s["schedule_id"] for s in listed]
    await cli("schedule", "delete", "--id", sid)
    code, _out, err = await tidal_cli(address, "schedule", "describe", "--id", sid)
    assert code == 1 and "not_found" in err, err


async def terminate_and_cancel_other(client: Client, tq: str) -> None:
    """TERMINATE_OTHER and CANCEL_OTHER stop the open run; the new action starts once it closed."""
    sid = f"stop-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(Gate.run, id=sid, task_queue=tq),
            spec=_every(3600),
            state=ScheduleState(paused=True),
        ),
    )

    def one_running_after(n: int) -> object:
        return lambda d: (
            d.info.num_actions == n
            and len(d.info.running_actions) == 1
            and all(r.first_execution_run_id for r in d.info.running_actions)
        )

    await handle.trigger()
    first = (await _describe_until(handle, "the first run", one_running_after(1))).info.running_actions[0]
    await handle.trigger(overlap=ScheduleOverlapPolicy.TERMINATE_OTHER)
    second = (
        await _describe_until(handle, "the run after terminate", one_running_after(2))
    ).info.running_actions[0]
    old = await client.get_workflow_handle(first.workflow_id, run_id=first.first_execution_run_id).describe()  # type: ignore[attr-defined]
    assert old.status.name == "TERMINATED", old.status
    await handle.trigger(overlap=ScheduleOverlapPolicy.CANCEL_OTHER)
    third = (
        await _describe_until(handle, "the run after cancel", one_running_after(3))
    ).info.running_actions[0]
    old = await client.get_workflow_handle(
        second.workflow_id, run_id=second.first_execution_run_id
    ).describe()  # type: ignore[attr-defined]
    assert old.status.name == "CANCELED", old.status
    await client.get_workflow_handle(third.workflow_id, run_id=third.first_execution_run_id).signal(
        Gate.finish
    )  # type: ignore[attr-defined]
    await _describe_until(handle, "the last run closed", lambda d: not d.info.running_actions)
    await handle.delete()
