"""Screenshots of the web UI on a live stack (`make screenshots-ui`): docs/img/ui-list.png,
ui-workflow.png (timeline visible), ui-failed.png, ui-pending.png (an activity backing off, one
heartbeating), ui-schedule.png (a schedule after a trigger), ui-schedule-form.png (its edit form)
and ui-task-queues.png (the task queue list).

Starts private RabbitMQ and Postgres servers (or uses TIDAL_TEST_AMQP_URL / TIDAL_TEST_DATABASE_URL),
the four services as processes (tests/support/stack.py), a worker running
tests/support/ui_workflows.py, a few dozen runs in every state, then photographs the pages with
Debian's chromium driven by Playwright. `--serve` keeps everything up and prints the UI's address.

    uv run python scripts/screenshot_ui.py [--out docs/img] [--serve]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tidal.client import Client  # noqa: E402
from tidal.worker import Worker  # noqa: E402

from tests.support import ui_workflows as uw  # noqa: E402
from tests.support.stack import Stack  # noqa: E402
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, GreetingWorkflow  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@contextlib.asynccontextmanager
async def live_stack() -> AsyncIterator[Stack]:
    amqp, db = os.environ.get("TIDAL_TEST_AMQP_URL"), os.environ.get("TIDAL_TEST_DATABASE_URL")
    with contextlib.ExitStack() as exits:
        if not (amqp and db):
            from tests.support.servers import running_servers

            servers = exits.enter_context(running_servers())
            amqp, db = servers.rabbitmq.url, servers.postgres.url
        stack = Stack(amqp_url=amqp, database_url=db)
        exits.callback(stack.stop_all)
        stack.start_all()
        await stack.wait_ready()
        yield stack


async def workload(client: Client, address: str) -> dict[str, str]:
    """Runs in every state; returns the ids the screenshots open."""
    tag = uuid.uuid4().hex[:4]
    done = f"order-{tag}-1001"
    handles = []
    for i in range(6):
        handles.append(
            await client.start_workflow(
                uw.OrderWorkflow.run, f"A-{1001 + i}", id=f"order-{tag}-{1001 + i}", task_queue=uw.TASK_QUEUE,
                search_attributes={"CustomerId": f"c-{40 + i}"},
            )
        )  # fmt: skip
    for h in handles[:4]:
        await h.signal(uw.OrderWorkflow.approve, "alice")
    failed = f"payment-{tag}-7"
    for i in range(3):
        await client.start_workflow(
            uw.PaymentWorkflow.run, f"B-{i}", id=f"payment-{tag}-{5 + i}", task_queue=uw.TASK_QUEUE
        )
    for i in range(8):
        await client.start_workflow(
            GreetingWorkflow.run, f"user {i}", id=f"greeting-{tag}-{i}", task_queue="e2e"
        )
    stuck = await client.start_workflow(
        uw.OrderWorkflow.run, "T-1", id=f"order-{tag}-stuck", task_queue=uw.TASK_QUEUE
    )
    for h in handles[:4]:
        await h.result()
    with contextlib.suppress(Exception):
        await client.get_workflow_handle(failed).result()
    await stuck.terminate("operator: duplicate order")
    pending = f"inventory-{tag}"
    await client.start_workflow(uw.PendingWorkWorkflow.run, "A-2001", id=pending, task_queue=uw.TASK_QUEUE)
    schedule = f"nightly-report-{tag}"
    async with httpx.AsyncClient(base_url=address) as http:
        r = await http.post(
            "/api/v1/namespaces/default/schedules",
            json={
                "schedule_id": schedule,
                "spec": {
                    "intervals": [{"every": 86400, "offset": 7200}],
                    "cron_expressions": ["30 6 * * MON-FRI"],
                    "calendars": [
                        {
                            "hour": [{"start": 9, "end": 17, "step": 4}],
                            "day_of_week": [{"start": 1, "end": 5}],
                            "comment": "office hours",
                        }
                    ],
                },
                "action": {
                    "workflow_type": "GreetingWorkflow",
                    "workflow_id": f"report-{tag}",
                    "task_queue": "e2e",
                    "input": [{"metadata": {"encoding": "json/plain"}, "data": "night shift"}],
                },
            },
        )
        r.raise_for_status()
        (
            await http.post(f"/api/v1/namespaces/default/schedules/{schedule}/trigger", json={})
        ).raise_for_status()
    return {"done": done, "failed": failed, "pending": pending, "schedule": schedule}


async def shoot(address: str, out: Path, ids: dict[str, str]) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        await page.goto(f"{address}/ui/#/namespaces/default/workflows")
        await page.wait_for_selector("table.runs")
        await page.wait_for_selector("#chips .chip")
        await page.screenshot(path=str(out / "ui-list.png"))
        await page.goto(f"{address}/ui/#/namespaces/default/workflows/{ids['done']}")
        await page.wait_for_selector("#timeline svg")
        await page.screenshot(path=str(out / "ui-workflow.png"), full_page=True)
        await page.goto(f"{address}/ui/#/namespaces/default/workflows/{ids['failed']}")
        await page.wait_for_selector(".failure")
        await page.click("#tab-compact")
        await page.screenshot(path=str(out / "ui-failed.png"), full_page=True)
        await page.goto(f"{address}/ui/#/namespaces/default/workflows/{ids['pending']}")
        await page.wait_for_selector(".ps-BackingOff", timeout=60_000)
        await page.wait_for_selector(".ps-Started", timeout=60_000)
        await page.locator("#pending").screenshot(path=str(out / "ui-pending.png"))
        await page.goto(f"{address}/ui/#/namespaces/default/schedules/{ids['schedule']}")
        await page.wait_for_selector("#schedule-recent a", timeout=60_000)
        await page.screenshot(path=str(out / "ui-schedule.png"), full_page=True)
        # The schedule form, as Edit opens it (prefilled from describe).
        await page.click("#schedule-edit")
        await page.wait_for_selector("#schedule-form")
        await page.screenshot(path=str(out / "ui-schedule-form.png"), full_page=True)
        await page.goto(f"{address}/ui/#/namespaces/default/task-queues")
        await page.wait_for_selector("#task-queue-table")
        await page.screenshot(path=str(out / "ui-task-queues.png"))
        await browser.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--serve", action="store_true", help="keep the stack and worker up until Ctrl-C")
    args = parser.parse_args()
    async with live_stack() as stack:
        client = await Client.connect(stack.address)
        workers = [
            Worker(
                client, task_queue=uw.TASK_QUEUE, workflows=uw.ALL_WORKFLOWS, activities=uw.ALL_ACTIVITIES
            ),
            Worker(client, task_queue="e2e", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES),
        ]
        async with contextlib.AsyncExitStack() as running:
            for w in workers:
                await running.enter_async_context(w)
            ids = await workload(client, stack.address)
            if args.serve:
                print(f"web UI: {stack.address}/ui/   (Ctrl-C or SIGTERM stops)", flush=True)
                stop = asyncio.Event()
                # SIGTERM stops as cleanly as Ctrl-C: the services and private servers go too.
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
                with contextlib.suppress(asyncio.CancelledError):
                    await stop.wait()
                return
            args.out.mkdir(parents=True, exist_ok=True)
            try:
                await shoot(stack.address, args.out, ids)
            finally:
                # Its heartbeating activity stops when told the run is gone (not at worker exit).
                await client.get_workflow_handle(ids["pending"]).terminate("screenshots taken")
            names = (
                "ui-list.png, ui-workflow.png, ui-failed.png, ui-pending.png, ui-schedule.png, "
                "ui-schedule-form.png, ui-task-queues.png"
            )
            print(f"wrote {names} in {args.out}")


if __name__ == "__main__":
    asyncio.run(main())
