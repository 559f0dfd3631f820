"""`tidal schedule ...` against a running (embedded) server, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tidal.cli import main
from tidal.client import Client
from tidal.worker import Worker
from tidal_server.embedded import EmbeddedServer

from tests.support.cli import tidal_cli_in_process
from tests.support.stack import free_port
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, TASK_QUEUE


@pytest.fixture
async def address() -> AsyncIterator[str]:
    server = EmbeddedServer(http_port=free_port())
    await server.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal")
    client = Client(http=http, worker_transport=server.worker_transport)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES):
        yield f"http://127.0.0.1:{server.http_port}"
    await client.close()
    await server.stop()


async def _tidal_process(address: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tidal.cli",
        "--address",
        address,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


# A dozen calls through `python -m tidal.cli` spent most of this test starting interpreters (21 s
# in CI): all but the last run in this process (tests/support/cli.py).
_tidal = tidal_cli_in_process


async def _describe(address: str, schedule_id: str) -> dict[str, object]:
    code, out, err = await _tidal(address, "--output", "json", "schedule", "describe", "-s", schedule_id)
    assert code == 0, err
    described: dict[str, object] = json.loads(out)
    return described


def _rows(table: str) -> dict[str, list[str]]:
    """A Field/Value table as {field: [values]} (continuation rows have an empty field)."""
    rows: dict[str, list[str]] = {}
    last = ""
    for line in table.splitlines()[2:]:
        field, _, value = line.partition("  ")
        last = field.strip() or last
        rows.setdefault(last, []).append(value.strip())
    return rows


async def test_create_describe_list_update_pause_trigger_backfill_delete(address: str) -> None:
    code, out, err = await _tidal(
        address,
        "schedule",
        "create",
        "-s",
        "cli-nightly",
        "--cron",
        "0 2 * * *",
        "--interval",
        "1d/6h",
        "--time-zone",
        "Europe/Berlin",
        "--type",
        "GreetingWorkflow",
        "--task-queue",
        TASK_QUEUE,
        "-w",
        "cli-greeting",
        "--input",
        '"CLI"',
        "--overlap-policy",
        "buffer-one",
        "--note",
        "made by the CLI test",
    )
    assert code == 0 and "Created schedule cli-nightly" in out, err

    code, out, _ = await _tidal(address, "schedule", "describe", "-s", "cli-nightly")
    rows = _rows(out)
    assert code == 0
    assert rows["Spec"] == ["cron 0 2 * * *", "every 1d offset 6h"]
    assert rows["Time zone"] == ["Europe/Berlin"] and rows["Overlap policy"] == ["buffer_one"]
    assert rows["Workflow type"] == ["GreetingWorkflow"] and rows["Note"] == ["made by the CLI test"]
    assert len(rows["Next actions"]) == 5 and rows["Actions taken"] == ["0"]

    code, out, _ = await _tidal(address, "schedule", "list")
    assert (
        code == 0
        and "cli-nightly" in out
        and "GreetingWorkflow" in out
        and out.splitlines()[1].startswith("--")
    )
    code, out, _ = await _tidal(address, "--output", "json", "schedule", "list")
    assert [e["schedule_id"] for e in json.loads(out)] == ["cli-nightly"]

    # Daily at a time three hours ago: no scheduled action can fall inside the test, so the counts
    # below are the trigger's and the backfill's alone (an hourly interval took a real action when
    # the test ran across the top of an hour).
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    offset_hours = start.hour
    code, out, err = await _tidal(
        address,
        "schedule",
        "update",
        "-s",
        "cli-nightly",
        "--interval",
        f"1d/{offset_hours}h",
        "--remaining-actions",
        "3",
    )
    assert code == 0 and "Updated schedule cli-nightly" in out, err
    described = await _describe(address, "cli-nightly")
    interval = {"every": "P1D", "offset": f"PT{offset_hours}H"} if offset_hours else {"every": "P1D"}
    assert described["spec"] == {"intervals": [interval], "time_zone_name": "Europe/Berlin"}
    assert described["state"]["remaining_actions"] == 3  # type: ignore[index]
    assert described["action"]["workflow_type"] == "GreetingWorkflow"  # type: ignore[index]  # kept

    code, out, _ = await _tidal(address, "schedule", "pause", "-s", "cli-nightly", "--note", "maintenance")
    assert code == 0 and "Paused schedule cli-nightly" in out
    rows = _rows((await _tidal(address, "schedule", "describe", "-s", "cli-nightly"))[1])
    assert rows["Paused"] == ["yes"] and rows["Note"] == ["maintenance"]
    code, out, _ = await _tidal(address, "schedule", "unpause", "-s", "cli-nightly")
    assert code == 0 and "Unpaused schedule cli-nightly" in out

    code, out, _ = await _tidal(
        address, "schedule", "trigger", "-s", "cli-nightly", "--overlap-policy", "allow_all"
    )
    assert code == 0 and "Triggered schedule cli-nightly" in out
    code, out, err = await _tidal(
        address,
        "schedule",
        "backfill",
        "-s",
        "cli-nightly",
        "--start-time",
        (start - timedelta(days=1)).isoformat(),
        "--end-time",
        start.isoformat(),
        "--overlap-policy",
        "allow_all",
    )
    assert code == 0 and "Backfilled schedule cli-nightly" in out, err
    deadline = time.monotonic() + 60
    while True:  # the trigger and the two backfilled days (inclusive range) start three runs
        info = (await _describe(address, "cli-nightly"))["info"]
        if info["num_actions"] >= 3 or time.monotonic() > deadline:  # type: ignore[index]
            break
        await asyncio.sleep(0.2)
    assert info["num_actions"] == 3  # type: ignore[index]
    rows = _rows((await _tidal(address, "schedule", "describe", "-s", "cli-nightly"))[1])
    assert len(rows["Recent actions"]) == 3 and all("cli-greeting-" in r for r in rows["Recent actions"])

    code, out, _ = await _tidal(address, "schedule", "delete", "-s", "cli-nightly")
    assert code == 0 and "Deleted schedule cli-nightly" in out
    code, _, err = await _tidal_process(address, "schedule", "describe", "-s", "cli-nightly")
    assert code == 1 and "not_found" in err and "Traceback" not in err


_CREATE = ("schedule", "create", "-s", "bad", "--type", "T", "--task-queue", "q", "-w", "w")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--cron", "0 25 * * *"), "hour field '25': 25 is out of range 0-23"),
        (("--cron", "@daily", "--time-zone", "Mars/Base"), "unknown time zone 'Mars/Base'"),
        (("--interval", "0s"), "every"),
        (("--interval", "ten"), "--interval 'ten' is not a duration"),
        (("--cron", "@daily", "--start-time", "2026-01-01"), "--start-time '2026-01-01' needs a UTC offset"),
        (("--cron", "@daily", "--overlap-policy", "sometimes"), "--overlap-policy 'sometimes' is not one of"),
        (("--calendar", '{"hour": [{"start": 24}]}'), "hour range 24-24 is outside 0-23"),
        (("--calendar", "{not json"), "--calendar"),
        ((), "at least one of calendars, intervals or cron_expressions"),
    ],
)
def test_bad_input_is_refused_naming_the_flag_or_field(extra: tuple[str, ...], message: str) -> None:
    # No server at this address: bad input is refused before any request is sent (in-process:
    # the subprocess path of these messages is the one the test above takes for not_found).
    with pytest.raises(SystemExit) as exited:
        main(["--address", "http://127.0.0.1:1", *_CREATE, *extra])
    assert isinstance(exited.value.code, str) and message in exited.value.code, exited.value.code
