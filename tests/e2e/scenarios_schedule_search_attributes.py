"""Schedules' own search attributes (temporalio's `create_schedule(search_attributes=)`), run
embedded and on the real stack (test_schedule_search_attributes.py): set at create, read back
typed by describe and list, replaced by an update, filtered on by `list_schedules(query)`, kept
apart from the attributes of the runs the schedule starts, and refused with a 400 when invalid."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from tidal import workflow
from tidal.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleListDescription,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from tidal.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from tidal.exceptions import RPCError

from tests.e2e.scenarios_visibility import tidal_cli
from tests.support.cli import tidal_cli_in_process
from tests.support.stack import wait_for

TEAM = SearchAttributeKey.for_keyword("SchedSaTeam")
TIER = SearchAttributeKey.for_int("SchedSaTier")
SCORE = SearchAttributeKey.for_float("SchedSaScore")
URGENT = SearchAttributeKey.for_bool("SchedSaUrgent")
NOTE = SearchAttributeKey.for_text("SchedSaNote")
SINCE = SearchAttributeKey.for_datetime("SchedSaSince")
OWNERS = SearchAttributeKey.for_keyword_list("SchedSaOwners")
RUN_ATTR = SearchAttributeKey.for_keyword("SchedSaRunTag")


@workflow.defn
class SchedSaNoop:
    @workflow.run
    async def run(self) -> None:
        return None


def _schedule(tq: str, base: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SchedSaNoop.run,
            id=base,
            task_queue=tq,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(RUN_ATTR, "run-tag")]),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
        state=ScheduleState(paused=True),
    )


async def _listed(client: Client, query: str) -> list[ScheduleListDescription]:
    return [s async for s in await client.list_schedules(query)]


async def create_describe_list_update_filter(client: Client, tq: str) -> None:
    tag = uuid.uuid4().hex[:12]
    since = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(TEAM, f"data-{tag}"),
            SearchAttributePair(TIER, 2),
            SearchAttributePair(SCORE, 0.75),
            SearchAttributePair(URGENT, True),
            SearchAttributePair(NOTE, "Nightly warehouse load"),
            SearchAttributePair(SINCE, since),
            SearchAttributePair(OWNERS, ["ann", f"bo-{tag}"]),
        ]
    )
    sid = f"sa-{tag}"
    other = f"sa-other-{tag}"
    # A name nobody used before: the create registers its type in the namespace, as a run's
    # first value does, so workflow filters know it too.
    fresh = SearchAttributeKey.for_int(f"SchedSaFresh_{tag}")
    attrs = attrs.updated(SearchAttributePair(fresh, 5))
    handle = await client.create_schedule(sid, _schedule(tq, f"wf-{tag}"), search_attributes=attrs)
    assert (await client.count_workflows(f"SchedSaFresh_{tag} = 5")).count == 0
    await client.create_schedule(
        other,
        _schedule(tq, f"wf-other-{tag}"),
        search_attributes=TypedSearchAttributes([SearchAttributePair(TEAM, f"ops-{tag}")]),
    )
    desc = await handle.describe()
    typed = desc.typed_search_attributes
    assert typed[TEAM] == f"data-{tag}" and typed[TIER] == 2 and typed[SCORE] == 0.75
    assert typed[URGENT] is True and typed[NOTE] == "Nightly warehouse load"
    assert typed[SINCE] == since and list(typed[OWNERS]) == ["ann", f"bo-{tag}"]
    assert desc.search_attributes["SchedSaTier"] == 2
    # The action's attributes are the runs', apart from the schedule's own.
    assert desc.schedule.action.typed_search_attributes[RUN_ATTR] == "run-tag"  # type: ignore[attr-defined]
    assert TEAM not in desc.schedule.action.typed_search_attributes  # type: ignore[attr-defined]

    (listed,) = await _listed(client, f"SchedSaTeam = 'data-{tag}'")
    assert listed.id == sid and listed.typed_search_attributes[OWNERS] == ["ann", f"bo-{tag}"]
    assert listed.typed_search_attributes[SINCE] == since
    assert [s.id for s in await _listed(client, f"SchedSaOwners = 'bo-{tag}'")] == [sid]
    assert [s.id for s in await _listed(client, f"SchedSaTeam STARTS_WITH 'ops-{tag}'")] == [other]
    both = f"ScheduleId IN ('{sid}', '{other}')"
    assert [s.id for s in await _listed(client, f"{both} AND SchedSaTier IS NULL")] == [other]
    assert [s.id for s in await _listed(client, f"{both} AND SchedSaUrgent = true")] == [sid]
    assert [s.id for s in await _listed(client, f"{both} AND SchedSaSince > '2026-01-01T00:00:00Z'")] == [sid]
    # Registered as Datetime: a literal without an offset is UTC, as in workflow filters.
    assert [s.id for s in await _listed(client, f"{both} AND SchedSaSince > '2026-03-04T05:06:07'")] == [sid]
    assert [s.id for s in await _listed(client, f"{both} AND SchedSaFresh_{tag} >= 5")] == [sid]
    assert [s.id for s in await _listed(client, f"{both} AND TemporalSchedulePaused = true")] == sorted(
        [sid, other]
    )

    # An update without attributes keeps them; one with them replaces them.
    def keep(inp: ScheduleUpdateInput) -> ScheduleUpdate:
        inp.description.schedule.state.note = "kept"
        return ScheduleUpdate(schedule=inp.description.schedule)

    await handle.update(keep)
    desc = await handle.describe()
    assert desc.schedule.state.note == "kept" and desc.typed_search_attributes[TIER] == 2

    def replace(inp: ScheduleUpdateInput) -> ScheduleUpdate:
        new = TypedSearchAttributes([SearchAttributePair(TEAM, f"moved-{tag}")])
        return ScheduleUpdate(schedule=inp.description.schedule, search_attributes=new)

    await handle.update(replace)
    desc = await handle.describe()
    assert desc.search_attributes == {"SchedSaTeam": f"moved-{tag}"}
    assert await _listed(client, f"SchedSaTeam = 'data-{tag}'") == []
    assert [s.id for s in await _listed(client, f"SchedSaTeam = 'moved-{tag}'")] == [sid]

    # A run the schedule starts has the action's attributes, not the schedule's.
    await handle.trigger()
    runs: list[dict[str, object]] = []

    async def started() -> bool:
        runs[:] = [
            dict(w.search_attributes) async for w in client.list_workflows(f"TemporalScheduledById = '{sid}'")
        ]
        return bool(runs)

    await wait_for(started, timeout=30, what="the triggered run")
    assert runs[0]["SchedSaRunTag"] == "run-tag" and "SchedSaTeam" not in runs[0]
    await handle.delete()
    await client.get_schedule_handle(other).delete()


async def invalid_attributes_and_queries_are_refused(client: Client, tq: str) -> None:
    tag = uuid.uuid4().hex[:12]
    path = f"/api/v1/namespaces/{client.namespace}/schedules"
    body = {
        "schedule_id": f"sa-bad-{tag}",
        "spec": {"intervals": [{"every": 60}]},
        "action": {"workflow_type": "SchedSaNoop", "workflow_id": f"wf-{tag}", "task_queue": tq},
        "state": {"paused": True},
    }
    for bad in (
        {"bad name": 1},
        {"Obj": {"a": 1}},
        {"Nul": "a\x00b"},
        {"Ints": [1, 2]},
        {"Long": "k" * 70_000},
        {"WorkflowId": "reserved"},
        {"Nothing": None},
    ):
        try:
            await client._call("POST", path, json={**body, "search_attributes": bad})
        except RPCError as exc:
            assert exc.code == 400 and exc.status == "invalid_argument", (bad, exc)
        else:
            raise AssertionError(f"{bad} was accepted")
    try:
        [s async for s in await client.list_schedules("SchedSaTeam = ")]
    except RPCError as exc:
        assert exc.code == 400 and exc.status == "invalid_argument"
        assert exc.problem is not None and exc.problem["position"] == len("SchedSaTeam = ")
    else:
        raise AssertionError("a bad query was accepted")
    try:
        [s async for s in await client.list_schedules("WorkflowId = 'x'")]
    except RPCError as exc:
        assert exc.code == 400 and "not of schedules" in str(exc)
    else:
        raise AssertionError("a run attribute was accepted in a schedule query")
    # Nothing was created by the refused requests.
    assert await _listed(client, f"ScheduleId = 'sa-bad-{tag}'") == []


SCENARIOS = [create_describe_list_update_filter, invalid_attributes_and_queries_are_refused]


async def the_cli(client: Client, address: str) -> None:
    """`tidal schedule create/update --search-attribute`, `describe` showing them and
    `list --query` filtering on them. The successful calls run in this process
    (tests/support/cli.py), the two refused ones through `python -m tidal.cli`."""
    tag = uuid.uuid4().hex[:12]
    sid = f"sa-cli-{tag}"

    async def cli(*args: str) -> str:
        code, out, err = await tidal_cli_in_process(address, "--namespace", client.namespace, *args)
        assert code == 0, (args, out, err)
        return out

    await cli(
        *("schedule", "create", "--id", sid, "--type", "SchedSaNoop", "--task-queue", "q"),
        *("--workflow-id", sid, "--interval", "1d", "--paused"),
        *("--search-attribute", f"SchedSaTeam=cli-{tag}", "--search-attribute", 'SchedSaOwners=["x","y"]'),
        *("--search-attribute", "SchedSaTier=7"),
    )
    out = await cli("schedule", "describe", "--id", sid)
    assert re.search(r'Search attributes +SchedSaOwners=\["x", "y"\]', out), out
    assert f'SchedSaTeam="cli-{tag}"' in out and "SchedSaTier=7" in out, out
    listed = json.loads(
        await cli("--output", "json", "schedule", "list", "--query", f"SchedSaTeam = 'cli-{tag}'")
    )
    assert [s["schedule_id"] for s in listed] == [sid] and listed[0]["search_attributes"]["SchedSaTier"] == 7
    await cli("schedule", "update", "--id", sid, "--search-attribute", f"SchedSaTeam=moved-{tag}")
    desc = await client.get_schedule_handle(sid).describe()
    assert desc.search_attributes == {"SchedSaTeam": f"moved-{tag}"}
    code, _out, err = await tidal_cli(
        address, "--namespace", client.namespace, "schedule", "list", "--query", "SchedSaTeam = "
    )
    assert code == 1 and "invalid_argument" in err, err
    code, _out, err = await tidal_cli(
        address, "schedule", "update", "--id", sid, "--search-attribute", "Bad={}"
    )
    assert code != 0 and "--search-attribute" in err, err
    await client.get_schedule_handle(sid).delete()
