"""The web UI in a real browser (Playwright driving Debian's chromium) on the real stack: the list
and its filter, a workflow's timeline and history, a signal that completes it, a terminate, the
query runner; with auth on, sign-in by API key and a reader without action buttons.

One browser for the module; each test gets a fresh stack (database and vhost) and page.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tidal.client import Client, PendingActivityState
from tidal.common import RetryPolicy
from tidal.worker import Worker

from tests.support import ui_workflows as uw
from tests.support.stack import ROOT, SERVICES, Stack, wait_for
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, GreetingWorkflow

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
# The machine is shared and the stack runs real services: wait up to 30 s for any expectation.
expect.set_options(timeout=30_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SLOW = 30_000  # ms: the stack runs workflows while other tests load the machine

if shutil.which(CHROMIUM) is None:  # bootstrap.sh --test-servers installs it; CI must have it
    pytest.skip("Debian's chromium is not installed: apt-get install -y chromium", allow_module_level=True)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


async def _workers(client: Client) -> list[Worker]:
    return [
        Worker(client, task_queue=uw.TASK_QUEUE, workflows=uw.ALL_WORKFLOWS, activities=uw.ALL_ACTIVITIES),
        Worker(client, task_queue="e2e", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES),
    ]


async def test_list_filter_workflow_page_signal_terminate_query(running: Stack, page: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    client = await Client.connect(running.address)
    w1, w2 = await _workers(client)
    async with w1, w2:
        order = await client.start_workflow(
            uw.OrderWorkflow.run, "A-1", id=f"order-{tag}-1", task_queue=uw.TASK_QUEUE
        )
        other = await client.start_workflow(
            uw.OrderWorkflow.run, "A-2", id=f"order-{tag}-2", task_queue=uw.TASK_QUEUE
        )
        greeting = await client.start_workflow(
            GreetingWorkflow.run, "ui", id=f"greeting-{tag}", task_queue="e2e"
        )
        await greeting.result()
        # Ids and payloads are data, never markup: a "/" and an HTML tag in an id.
        hostile = f"odd/<img src=x onerror=window.pwned=1>-{tag}"
        odd = await client.start_workflow(GreetingWorkflow.run, "<b>bold</b>", id=hostile, task_queue="e2e")
        await odd.result()

        # The list at / (redirected to /ui/), then filtered by type through the query language.
        await page.goto(running.address + "/")
        runs = page.locator("#runs")
        await expect(runs).to_contain_text(f"greeting-{tag}", timeout=SLOW)
        await expect(runs).to_contain_text(f"order-{tag}-1")
        await expect(runs).to_contain_text(hostile)
        await page.click(f"a.wf-link:text-is('{hostile}')")
        await expect(page.locator("#wf-id")).to_have_text(hostile)
        await expect(page.locator("main")).to_contain_text("Hello, <b>bold</b>!")
        assert await page.evaluate("window.pwned") is None
        await page.go_back()
        await page.fill("#filter-type", "OrderWorkflow")
        await page.click("#helpers button[type=submit]")
        await expect(page.locator("#effective-query")).to_have_text("WorkflowType = 'OrderWorkflow'")
        await expect(page.locator("#query")).to_have_value("WorkflowType = 'OrderWorkflow'")
        await expect(runs).not_to_contain_text(f"greeting-{tag}", timeout=SLOW)
        await expect(runs).to_contain_text(f"order-{tag}-2")
        await expect(page.locator("#chips [data-status=Running] b")).to_have_text("2", timeout=SLOW)
        # A query that does not parse says where, and the page survives it.
        await page.fill("#query", "WorkflowType = ")
        await page.click("#query-form button")
        await expect(page.locator("#query-error .error")).to_contain_text("invalid_argument")

        # The workflow page: header, timeline, history; the query runner; a signal completes it.
        await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/order-{tag}-1")
        await expect(page.locator("#wf-id")).to_have_text(f"order-{tag}-1")
        # Wait until the run waits for the signal (its charge retried once, its timer fired).
        await expect(page.locator("#timeline")).to_contain_text("Timer 1", timeout=SLOW)
        timeline = page.locator("#timeline")
        await expect(timeline).to_contain_text("reserve_stock #1")
        await expect(timeline).to_contain_text("charge_card #2 (attempt 2)")
        await page.click("#tab-events")
        await expect(page.locator("#events")).to_contain_text("WorkflowExecutionStarted")
        await expect(page.locator("#events")).to_contain_text("ActivityTaskCompleted")
        await page.click("#tab-query")
        await page.fill("#query-runner input[name=name]", "status")
        await page.click("#query-runner button")
        await expect(page.locator("#query-result")).to_contain_text("waiting for approval", timeout=SLOW)
        await page.click("#stack-trace")
        await expect(page.locator("#query-result pre.text")).to_contain_text("wait_condition", timeout=SLOW)
        await page.fill("#signal-form input[name=name]", "approve")
        await page.fill("#signal-form input[name=args]", '["bob"]')
        await page.click("#signal-form button")
        await expect(page.locator("#action-result")).to_contain_text("accepted", timeout=SLOW)
        await expect(page.locator(".wf-header .status")).to_have_text("Completed", timeout=SLOW)
        await expect(page.locator("main")).to_contain_text("approved by bob")
        await expect(page.locator("#actions-card")).to_be_hidden()
        assert await order.result() == "shipped A-1, approved by bob"
        await page.click("#tab-timeline")
        await expect(timeline).to_contain_text("Signal approve")
        await expect(timeline).to_contain_text("Child ShipmentWorkflow")
        # The closed child links to its run (from history), and the child back to its parent.
        await expect(page.locator("#children a")).to_contain_text("Child ShipmentWorkflow")
        await expect(page.locator("#children li")).to_contain_text("ok")
        await page.click("#children a")
        await expect(page.locator("#wf-id")).to_have_text(f"order-{tag}-1-shipment", timeout=SLOW)
        await page.click("a.chain-parent")
        await expect(page.locator("#wf-id")).to_have_text(f"order-{tag}-1", timeout=SLOW)

        # JSON download: the whole history.
        async with page.expect_download() as info:
            await page.click("#download-json")
        download = await info.value
        saved = json.loads((await download.path()).read_text())
        assert saved["events"][0]["attributes"]["type"] == "WorkflowExecutionStarted"
        assert saved["events"][-1]["attributes"]["type"] == "WorkflowExecutionCompleted"

        # Terminate the other one with a reason.
        await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/order-{tag}-2")
        await page.fill("#terminate-form input[name=reason]", "duplicate order")
        await page.click("#terminate-form button")
        await expect(page.locator(".wf-header .status")).to_have_text("Terminated", timeout=SLOW)
        async with httpx.AsyncClient(base_url=running.address) as http:
            r = await http.get(
                f"/api/v1/namespaces/default/workflows/order-{tag}-2/history", params={"run_id": other.run_id}
            )
            assert r.json()["events"][-1]["attributes"]["reason"] == "duplicate order"
        await page.click("#tab-events")
        await expect(page.locator("#events")).to_contain_text("reason=duplicate order")

        # Task queues: the worker polls ui-orders.
        await page.goto(f"{running.address}/ui/#/namespaces/default/task-queues/{uw.TASK_QUEUE}")
        await expect(page.locator("#task-queues tbody td").nth(1)).not_to_have_text("0", timeout=SLOW)
        # Every task queue of the namespace's runs (the list endpoint), each linking to its own.
        await page.click("text=← every task queue")
        rows = page.locator("#task-queues tbody tr")
        await expect(rows).to_have_count(2, timeout=SLOW)
        await expect(rows.nth(0)).to_have_attribute("data-task-queue", "e2e")
        await expect(rows.nth(1)).to_have_attribute("data-task-queue", uw.TASK_QUEUE)
        await expect(rows.nth(0).locator("td").nth(1)).not_to_have_text("0", timeout=SLOW)
        await rows.nth(0).locator("a").click()
        await expect(page.locator("#task-queues tbody tr")).to_have_count(1)
        await expect(page).to_have_url(re.compile(r"/task-queues/e2e$"))


async def test_pending_activities_retry_heartbeat_and_children(running: Stack, page: Any) -> None:
    """A retrying activity's attempt, last failure and next retry time; a heartbeating one's
    details and worker; the child with its link. Then the same through the SDK's describe."""
    client = await Client.connect(running.address)
    w1, w2 = await _workers(client)
    wf_id = f"pending-{uuid.uuid4().hex[:6]}"
    async with w1, w2:
        handle = await client.start_workflow(
            uw.PendingWorkWorkflow.run, "P-1", id=wf_id, task_queue=uw.TASK_QUEUE
        )
        await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/{wf_id}")
        ledger = page.locator(".pending-activity:has-text('sync_ledger')")
        await expect(ledger.locator(".pa-state")).to_have_text("backing off", timeout=SLOW)
        await expect(ledger.locator(".pa-attempt")).to_have_text("2 of 5")
        await expect(ledger.locator(".pa-failure")).to_contain_text("LedgerDown: ledger unreachable for P-1")
        await ledger.locator(".pa-failure summary").click()  # the stack trace
        await expect(ledger.locator(".pa-failure pre")).to_contain_text("sync_ledger")
        # The next attempt is an hour after the failure (the page's clock, within a minute).
        await expect(ledger.locator(".pa-next-retry")).to_contain_text(re.compile(r"in (59m|1h)"))
        scan = page.locator(".pending-activity:has-text('scan_inventory')")
        await expect(scan.locator(".pa-state")).to_have_text("started", timeout=SLOW)
        await expect(scan.locator(".pa-details")).to_contain_text('"order": "P-1"')
        await expect(scan.locator(".pa-details")).to_contain_text('"scanned"')
        await expect(scan.locator(".pa-worker")).not_to_be_empty()
        await expect(scan.locator(".pa-heartbeat-time")).not_to_be_empty()
        # The details move on as the activity heartbeats (the page refreshes itself).
        first = json.loads(await scan.locator(".pa-details pre").first.text_content() or "{}")
        await expect(scan.locator(".pa-details")).not_to_contain_text(
            re.compile(rf'"scanned": {first["scanned"]}\b'), timeout=SLOW
        )
        child = page.locator("#children .pending-child a")
        await expect(child).to_contain_text(f"OrderWorkflow {wf_id}-order", timeout=SLOW)
        await child.click()
        await expect(page.locator("#wf-id")).to_have_text(f"{wf_id}-order")

        # The SDK's describe carries the same, under temporalio's names.
        desc = await handle.describe()
        raw = desc.raw_description
        by_type = {a.activity_type: a for a in raw.pending_activities}
        retrying, beating = by_type["sync_ledger"], by_type["scan_inventory"]
        assert retrying.state is PendingActivityState.BACKING_OFF
        assert (retrying.attempt, retrying.maximum_attempts) == (2, 5)
        assert retrying.last_failure is not None and retrying.last_failure.type == "LedgerDown"
        assert retrying.next_attempt_schedule_time is not None
        assert retrying.last_attempt_complete_time is not None
        delay = retrying.next_attempt_schedule_time - retrying.last_attempt_complete_time
        assert abs(delay.total_seconds() - 3600) < 1
        assert beating.state is PendingActivityState.STARTED and beating.last_heartbeat_time is not None
        assert beating.heartbeat_details[0].data["order"] == "P-1"  # type: ignore[index,call-overload]
        assert beating.last_worker_identity
        [kid] = raw.pending_children
        assert (kid.workflow_id, kid.workflow_type_name) == (f"{wf_id}-order", "OrderWorkflow")
        await handle.terminate("done looking")  # its child goes with it (parent close policy)

        # A page still loading when the reader moves on must not draw over the next page: hold
        # the describe of one run, go to the task queues meanwhile, then let the describe answer.
        release = asyncio.Event()
        held: list[str] = []

        async def hold(route: Any) -> None:
            held.append(route.request.url)
            await release.wait()
            await route.continue_()

        await page.route(f"**/api/v1/namespaces/default/workflows/{wf_id}?*", hold)
        await page.route(f"**/api/v1/namespaces/default/workflows/{wf_id}", hold)
        await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/{wf_id}")
        await wait_for(lambda: held, timeout=SLOW / 1000, what="the held describe")
        await page.goto(f"{running.address}/ui/#/namespaces/default/task-queues/{uw.TASK_QUEUE}")
        await expect(page.locator("#task-queues tbody tr")).to_have_count(1, timeout=SLOW)
        # The held page marks `tidal:ready` once it has drawn itself: wait for that, then look.
        await page.evaluate("performance.clearMarks('tidal:ready')")
        release.set()
        await wait_for(
            lambda: page.evaluate("performance.getEntriesByName('tidal:ready').length > 0"),
            timeout=SLOW / 1000,
            what="the held page to draw itself",
        )
        await page.unroute_all()
        assert await page.locator("#wf-id").count() == 0, "a stale page drew over the current one"
        await expect(page.locator("#task-queues")).to_be_visible()


async def test_run_chain_pages_refresh_toggle_and_query_errors(running: Stack, page: Any) -> None:
    """Links along a run chain (a retry, then a continue-as-new), the list of every run of the id
    paged one run at a time, the auto-refresh switch remembered, and a bad query's problem shown
    under the box with the page still usable."""
    client = await Client.connect(running.address)
    w1, w2 = await _workers(client)
    wf_id = f"renewal-{uuid.uuid4().hex[:6]}"
    async with w1, w2:
        handle = await client.start_workflow(
            uw.RenewalWorkflow.run, 1, id=wf_id, task_queue=uw.TASK_QUEUE,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )  # fmt: skip
        assert await handle.result() == "renewed"
    first = handle.first_execution_run_id or handle.run_id
    assert first is not None

    # Run 1 failed and was retried; run 2 continued as new; run 3 completed.
    await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/{wf_id}?run_id={first}")
    chain = page.locator("#run-chain")
    await expect(page.locator(".wf-header .status")).to_have_text("Failed", timeout=SLOW)
    await expect(chain.locator(".chain-prev")).to_have_count(0)
    await chain.locator(".chain-next").click()
    await expect(page.locator(".wf-header .status")).to_have_text("ContinuedAsNew", timeout=SLOW)
    await expect(chain.locator(".chain-prev")).to_have_text("← previous attempt")
    await expect(chain.locator(".chain-next")).to_have_text("continued as new →")
    second = (await page.locator("#wf-run-id").text_content() or "").strip()
    await chain.locator(".chain-next").click()
    await expect(page.locator(".wf-header .status")).to_have_text("Completed", timeout=SLOW)
    await expect(chain.locator(".chain-prev")).to_have_text("← continued from")
    await expect(chain.locator(".chain-next")).to_have_count(0)
    await chain.locator(".chain-prev").click()
    await expect(page.locator("#wf-run-id")).to_have_text(second, timeout=SLOW)
    await chain.locator(".chain-first").click()
    await expect(page.locator("#wf-run-id")).to_have_text(first, timeout=SLOW)

    # Every run of the id, one a page: Older walks the keyset pages, Newer comes back.
    await chain.locator(".chain-all").click()
    await expect(page.locator("#effective-query")).to_have_text(f"WorkflowId = '{wf_id}'", timeout=SLOW)
    await expect(page.locator("#runs tbody tr")).to_have_count(3, timeout=SLOW)
    await page.goto(page.url + "&page_size=1")
    rows = page.locator("#runs tbody tr")
    await expect(rows).to_have_count(1, timeout=SLOW)
    await expect(page.locator("#chips [data-status=All] b")).to_have_text("3")
    seen = [await rows.locator("td").nth(2).text_content()]
    for n in (2, 3):
        await page.click("#next-page")
        await expect(page.locator("#page-number")).to_have_text(f"page {n}", timeout=SLOW)
        await expect(rows.locator("td").nth(2)).not_to_have_text(seen[-1] or "")
        seen.append(await rows.locator("td").nth(2).text_content())
    assert len(set(seen)) == 3 and first in seen and second in seen
    await expect(page.locator("#next-page")).to_be_disabled()
    await page.click("#prev-page")
    await expect(rows.locator("td").nth(2)).to_have_text(seen[1] or "", timeout=SLOW)

    # Auto-refresh off is remembered across a reload.
    await page.uncheck("#auto-refresh")
    await page.reload()
    await expect(page.locator("#auto-refresh")).not_to_be_checked(timeout=SLOW)

    # A query that does not parse: its problem under the box, no stale rows or counts, and the
    # box still works.
    await page.fill("#query", "WorkflowId = ")
    await page.click("#query-form button")
    await expect(page.locator("#query-error .error")).to_contain_text("invalid_argument", timeout=SLOW)
    await expect(page.locator("#runs tbody tr")).to_have_count(0)
    await expect(page.locator("#chips a")).to_have_count(0)
    await page.fill("#query", f"WorkflowId = '{wf_id}' AND ExecutionStatus = 'Completed'")
    await page.click("#query-form button")
    await expect(page.locator("#runs tbody tr")).to_have_count(1, timeout=SLOW)
    await expect(page.locator("#query-error")).to_be_empty()
    await client.close()


async def _cli_admin_key(stack: Stack) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidal_server.cli", "api-key", "create", "--namespace", "*", "--role", "admin",
        "--output", "json",
        env=stack.env(), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return str(json.loads(out)["key"])


async def test_sign_in_and_a_reader_sees_no_action_buttons(stack: Stack, page: Any) -> None:
    admin = await _cli_admin_key(stack)
    for name in SERVICES:
        stack.start(name, TIDAL_AUTH_ENABLED="true")
    await stack.wait_ready()
    keys: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=stack.address, headers={"Authorization": f"Bearer {admin}"}
    ) as http:
        for role in ("reader", "writer"):
            r = await http.post("/api/v1/api-keys", json={"namespace": "default", "role": role})
            assert r.status_code == 201, r.text
            keys[role] = r.json()["key"]
    client = await Client.connect(stack.address, api_key=admin)
    w1, w2 = await _workers(client)
    wf_id = f"order-auth-{uuid.uuid4().hex[:6]}"
    async with w1, w2:
        await client.start_workflow(uw.OrderWorkflow.run, "R-1", id=wf_id, task_queue=uw.TASK_QUEUE)
        url = f"{stack.address}/ui/#/namespaces/default/workflows/{wf_id}"

        async def sign_in(key: str) -> None:
            await page.goto(url)
            await page.fill("#signin input[name=key]", key)
            await page.click("#signin button")
            await expect(page.locator("#wf-id")).to_have_text(wf_id, timeout=SLOW)

        await page.goto(url)
        await expect(page.locator("#signin")).to_be_visible()
        await page.fill("#signin input[name=key]", "tidal_bogus_key")
        await page.click("#signin button")
        await expect(page.locator(".signin .error")).to_contain_text("unauthenticated")

        await sign_in(keys["reader"])
        await expect(page.locator("#role")).to_have_text("reader on default")
        await expect(page.locator(".wf-header .status")).to_have_text("Running")
        await expect(page.locator("#signal-form")).to_have_count(0)
        await expect(page.locator("#terminate-form")).to_have_count(0)
        await expect(page.locator("#actions-card")).to_be_hidden()
        # No schedule form for a reader either: no button, and its address shows a notice.
        await page.goto(f"{stack.address}/ui/#/namespaces/default/schedules")
        await expect(page.locator("#no-schedules")).to_be_visible(timeout=SLOW)
        await expect(page.locator("#new-schedule")).to_be_hidden()
        await page.goto(f"{stack.address}/ui/#/namespaces/default/new-schedule")
        await expect(page.locator("main")).to_contain_text("needs a key with the writer role")
        await expect(page.locator("#schedule-form")).to_have_count(0)
        await page.click("#signout")
        await expect(page.locator("#signin")).to_be_visible()

        # The same page with a writer's key has them (so the reader's absence means something).
        await sign_in(keys["writer"])
        await expect(page.locator("#signal-form")).to_be_visible()
        await page.fill("#terminate-form input[name=reason]", "by the writer")
        await page.click("#terminate-form button")
        await expect(page.locator(".wf-header .status")).to_have_text("Terminated", timeout=SLOW)
        await page.goto(f"{stack.address}/ui/#/namespaces/default/schedules")
        await expect(page.locator("#new-schedule")).to_be_visible(timeout=SLOW)


async def test_admin_pages_namespace_and_reader_key(stack: Stack, page: Any) -> None:
    """An admin creates a namespace and a reader key in the UI (the secret shown once); signed in
    with that key there are no action buttons and no admin pages, and the API refuses the
    reader's admin operations with 403. Then the admin revokes the key and deprecates the
    namespace."""
    admin = await _cli_admin_key(stack)
    for name in SERVICES:
        stack.start(name, TIDAL_AUTH_ENABLED="true")
    await stack.wait_ready()
    tag = uuid.uuid4().hex[:6]
    ns = f"team-{tag}"

    async def sign_in(key: str, where: str) -> None:
        await page.goto(f"{stack.address}/ui/{where}")
        await page.evaluate("localStorage.clear()")
        await page.reload(wait_until="networkidle")
        await page.fill("#signin input[name=key]", key)
        await page.click("#signin button")
        await expect(page.locator("#role")).to_be_visible(timeout=SLOW)

    await sign_in(admin, "#/admin/namespaces")
    await expect(page.locator("#nav-admin")).to_be_visible()
    await page.fill("#create-namespace input[name=name]", ns)
    await page.fill("#create-namespace input[name=retention]", "7")
    await page.fill("#create-namespace input[name=description]", "team <b>A</b>")
    await page.click("#create-namespace button")
    await expect(page.locator("#admin-result")).to_contain_text(f"Namespace {ns} created", timeout=SLOW)
    row = page.locator(f"#namespaces-table tr[data-namespace='{ns}']")
    await expect(row.locator("input[name=description]")).to_have_value("team <b>A</b>")
    # A bad value is the API's 400, shown inline; then a good one is saved.
    await row.locator("input[name=retention]").fill("0")
    await row.locator("button[type=submit]").click()
    error = page.locator("#admin-result .error")
    await expect(error).to_contain_text("invalid_argument", timeout=SLOW)
    await expect(error.locator(".field-errors")).to_contain_text("retention_days")
    await row.locator("input[name=retention]").fill("14")
    await row.locator("button[type=submit]").click()
    await expect(page.locator("#admin-result")).to_contain_text(f"Namespace {ns} updated", timeout=SLOW)
    auth = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=stack.address, headers=auth) as http:
        got = (await http.get(f"/api/v1/namespaces/{ns}")).json()
        assert (got["retention_days"], got["description"]) == (14, "team <b>A</b>")
        r = await http.patch(f"/api/v1/namespaces/{ns}", json={"retention_days": 0})
        assert r.status_code == 400
    # The new namespace is in the switcher.
    await expect(page.locator(f"#namespace option[value='{ns}']")).to_have_count(1)

    # A reader key for it: the secret appears once, the list filtered by namespace and role has it.
    await page.click("#admin-keys-link")
    await page.select_option("#create-key select[name=namespace]", ns)
    await page.select_option("#create-key select[name=role]", "reader")
    await page.fill("#create-key input[name=description]", "dashboards")
    await page.click("#create-key button")
    secret = page.locator("#new-key-secret")
    await expect(secret).to_have_value(re.compile(r"^tidal_"), timeout=SLOW)
    reader_key = await secret.input_value()
    await page.select_option("#key-filters select[name=namespace]", ns)
    await page.select_option("#key-filters select[name=role]", "reader")
    await page.click("#key-filters button")
    await expect(page.locator("#keys-table tbody tr")).to_have_count(1, timeout=SLOW)
    await expect(page.locator("#keys-table tbody tr")).to_contain_text("dashboards")
    await expect(page.locator("#new-key-secret")).to_have_count(0)  # never shown again
    await page.select_option("#key-filters select[name=role]", "writer")
    await page.click("#key-filters button")
    await expect(page.locator("#no-keys")).to_be_visible(timeout=SLOW)

    client = await Client.connect(stack.address, api_key=admin, namespace=ns)
    wf_id = f"in-{ns}"
    await client.start_workflow(uw.OrderWorkflow.run, "N-1", id=wf_id, task_queue=uw.TASK_QUEUE)
    async with httpx.AsyncClient(base_url=stack.address, headers=auth) as http:
        action = {"workflow_type": "GreetingWorkflow", "workflow_id": "daily", "task_queue": "e2e"}
        r = await http.post(
            f"/api/v1/namespaces/{ns}/schedules",
            json={"schedule_id": "daily", "spec": {"intervals": [{"every": 86400}]}, "action": action},
        )
        assert r.status_code == 201, r.text

    # Signed in as the reader: the run is readable, nothing to operate, no admin pages.
    await sign_in(reader_key, f"#/namespaces/{ns}/workflows/{wf_id}")
    await expect(page.locator("#role")).to_have_text(f"reader on {ns}")
    await expect(page.locator("#wf-id")).to_have_text(wf_id, timeout=SLOW)
    await expect(page.locator(".wf-header .status")).to_have_text("Running")
    await expect(page.locator("#actions-card")).to_be_hidden()
    await expect(page.locator("#signal-form")).to_have_count(0)
    await expect(page.locator("#nav-admin")).to_be_hidden()
    # ...nor on a schedule's page (the same page as a writer has Pause and Trigger).
    await page.goto(f"{stack.address}/ui/#/namespaces/{ns}/schedules/daily")
    await expect(page.locator("#schedule-id")).to_have_text("daily", timeout=SLOW)
    await expect(page.locator("#schedule-actions-card")).to_be_hidden()
    await expect(page.locator("#pause-form")).to_have_count(0)
    await page.goto(f"{stack.address}/ui/#/admin/api-keys")
    await expect(page.locator("#admin-denied")).to_be_visible(timeout=SLOW)
    await expect(page.locator("#create-key")).to_have_count(0)
    async with httpx.AsyncClient(
        base_url=stack.address, headers={"Authorization": f"Bearer {reader_key}"}
    ) as reader:
        for method, path, body in (
            ("POST", "/api/v1/namespaces", {"name": f"{ns}-x"}),
            ("PATCH", f"/api/v1/namespaces/{ns}", {"description": "mine"}),
            ("DELETE", f"/api/v1/namespaces/{ns}", None),
            ("POST", "/api/v1/api-keys", {"namespace": ns, "role": "admin"}),
            ("GET", "/api/v1/api-keys", None),
            ("POST", f"/api/v1/namespaces/{ns}/workflows/{wf_id}/terminate", {"reason": "no"}),
            ("POST", f"/api/v1/namespaces/{ns}/schedules/daily/pause", {"note": "no"}),
            ("POST", f"/api/v1/namespaces/{ns}/schedules/daily/trigger", {}),
        ):
            r = await reader.request(method, path, json=body)
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, path, r.text)

        # The admin revokes the key (two clicks) and deprecates the namespace.
        await sign_in(admin, "#/admin/api-keys")
        await page.select_option("#key-filters select[name=namespace]", ns)
        await page.click("#key-filters button")
        revoke = page.locator("#keys-table tr:has-text('dashboards') button.revoke")
        await revoke.click()
        await expect(revoke).to_have_text("Confirm revoke")
        await revoke.click()
        await expect(page.locator("#admin-result")).to_contain_text("revoked", timeout=SLOW)
        await expect(page.locator("#no-keys")).to_be_visible()
        assert (await reader.get(f"/api/v1/namespaces/{ns}")).status_code == 401
    await page.click("#admin-namespaces-link")
    deprecate = page.locator(f"#namespaces-table tr[data-namespace='{ns}'] button.deprecate")
    await deprecate.click()
    await deprecate.click()
    await expect(page.locator(f"#namespaces-table tr[data-namespace='{ns}'] .ns-state")).to_have_text(
        "deprecated", timeout=SLOW
    )
    await client.close()


async def test_schedules_list_describe_pause_unpause_trigger(running: Stack, page: Any) -> None:
    """The schedules page: the list, a schedule's page, pause with a note and unpause, and a
    trigger whose run is linked from the recent actions and completes."""
    client = await Client.connect(running.address)
    w1, w2 = await _workers(client)
    sched_id = f"nightly/{uuid.uuid4().hex[:6]}"  # a "/" in the id, as workflow ids may have
    async with w1, w2, httpx.AsyncClient(base_url=running.address) as http:
        r = await http.post(
            "/api/v1/namespaces/default/schedules",
            json={
                "schedule_id": sched_id,
                "spec": {"intervals": [{"every": 3600}]},
                "action": {
                    "workflow_type": "GreetingWorkflow",
                    "workflow_id": f"greet-{sched_id.replace('/', '-')}",
                    "task_queue": "e2e",
                    "input": [{"metadata": {"encoding": "json/plain"}, "data": "schedule"}],
                },
            },
        )
        assert r.status_code == 201, r.text
        await page.goto(f"{running.address}/ui/#/namespaces/default/schedules")
        row = page.locator(f"#schedules tr[data-schedule-id='{sched_id}']")
        await expect(row).to_contain_text("GreetingWorkflow", timeout=SLOW)
        await expect(row).to_contain_text("every 1h 0m")
        await expect(row.locator(".sched-state")).to_have_text("Active")
        await row.locator("a.sched-link").click()
        await expect(page.locator("#schedule-id")).to_have_text(sched_id, timeout=SLOW)
        await expect(page.locator("#schedule-next li")).not_to_have_count(0)
        await expect(page.locator("#schedule-recent-none")).to_be_visible()

        await page.fill("#pause-form input[name=note]", "maintenance window")
        await page.click("#pause-button")
        await expect(page.locator("#schedule-action-result")).to_contain_text("Pause: done", timeout=SLOW)
        await expect(page.locator("h2 .sched-state")).to_have_text("Paused")
        await expect(page.locator("#schedule-note")).to_have_text("maintenance window")
        got = (await http.get(f"/api/v1/namespaces/default/schedules/{sched_id}")).json()
        assert got["state"] == {**got["state"], "paused": True, "note": "maintenance window"}
        await page.click("#pause-button")  # now "Unpause"
        await expect(page.locator("h2 .sched-state")).to_have_text("Active", timeout=SLOW)

        await page.click("#trigger-button")
        await expect(page.locator("#schedule-action-result")).to_contain_text("Trigger: done", timeout=SLOW)
        await expect(page.locator("#schedule-num-actions")).to_have_text("1", timeout=SLOW)
        # A link once the run has started (its run id known; the page refreshes itself).
        recent = page.locator("#schedule-recent a")
        await expect(recent).to_have_count(1, timeout=SLOW)
        await recent.click()
        await expect(page.locator("#wf-id")).to_contain_text(
            f"greet-{sched_id.replace('/', '-')}", timeout=SLOW
        )
        await expect(page.locator(".wf-header .status")).to_have_text("Completed", timeout=SLOW)
        await expect(page.locator("main")).to_contain_text("Hello, schedule!")
        r = await http.delete(f"/api/v1/namespaces/default/schedules/{sched_id}")
        assert r.status_code == 200, r.text
    await client.close()


async def test_schedule_create_edit_delete_from_the_form(running: Stack, page: Any) -> None:
    """A schedule made in the form (cron, interval with offset, a calendar, JSON args, overlap),
    the API's validation errors shown at the field they name, an edit prefilled from describe, a
    conflicting edit refused, and a delete."""
    sched_id = f"form/{uuid.uuid4().hex[:6]}"
    path = f"/api/v1/namespaces/default/schedules/{sched_id}"
    async with httpx.AsyncClient(base_url=running.address) as http:
        await page.goto(f"{running.address}/ui/#/namespaces/default/schedules")
        await page.click("#new-schedule", timeout=SLOW)
        form = page.locator("#schedule-form")
        # Empty: the API names each missing field, and the form shows it beside that field.
        await form.locator("#schedule-save").click()
        for name in ("schedule_id", "action.workflow_type", "action.workflow_id", "action.task_queue"):
            await expect(form.locator(f"[data-field='{name}'] .field-error")).to_be_visible(timeout=SLOW)
        await expect(page.locator("#schedule-form-result .error")).to_contain_text("invalid_argument")
        await form.locator("[name=schedule_id]").fill(sched_id)
        await form.locator("[name=workflow_type]").fill("GreetingWorkflow")
        await form.locator("[name=workflow_id]").fill("greet-form")
        await form.locator("[name=task_queue]").fill("e2e")
        # A spec with no times, then a cron the engine refuses: the API's answer, at the field.
        await form.locator("#schedule-save").click()
        await expect(form.locator("[data-field=spec] .field-error")).to_contain_text("at least one of")
        await form.locator("[name=cron]").fill("61 * * * *")
        await form.locator("#schedule-save").click()
        await expect(form.locator("[data-field='spec.cron_expressions'] .field-error")).to_contain_text(
            "out of range"
        )
        # Checked in the browser before sending: a duration, a calendar range, the JSON args.
        await form.locator("[name=cron]").fill("0 9 * * MON-FRI")
        await form.locator("[name=intervals]").fill("soon")
        await form.locator("#schedule-save").click()
        await expect(form.locator("[data-field='spec.intervals'] .field-error")).to_contain_text(
            "not a duration"
        )
        await form.locator("[name=intervals]").fill("1h offset 5m")
        await form.locator("#add-calendar").click()
        cal = form.locator("fieldset.calendar").first
        await cal.locator("[name=hour]").fill("30")
        await form.locator("[name=args]").fill("['not json']")
        await form.locator("#schedule-save").click()
        await expect(form.locator("[data-field='action.input'] .field-error")).to_contain_text("not JSON")
        await form.locator("[name=args]").fill('["form"]')
        await form.locator("#schedule-save").click()
        await expect(cal.locator(".field-error")).to_contain_text("outside 0-23", timeout=SLOW)
        await cal.locator("[name=hour]").fill("9-17/2")
        await cal.locator("[name=day_of_week]").fill("1-5")
        await cal.locator("[name=comment]").fill("office hours")
        await form.locator("[name=overlap]").select_option("allow_all")
        await form.locator("#schedule-save").click()

        # Created: its page, and the API has what the form said.
        await expect(page.locator("#schedule-id")).to_have_text(sched_id, timeout=SLOW)
        await expect(page.locator("#schedule-spec")).to_contain_text("cron 0 9 * * MON-FRI")
        await expect(page.locator("#schedule-spec")).to_contain_text("1 calendar")
        got = (await http.get(path)).json()
        assert got["spec"]["cron_expressions"] == ["0 9 * * MON-FRI"]
        assert got["spec"]["calendars"][0]["hour"] == [{"start": 9, "end": 17, "step": 2}]
        assert got["spec"]["calendars"][0]["day_of_week"] == [{"start": 1, "end": 5, "step": 1}]
        assert got["spec"]["calendars"][0]["comment"] == "office hours"
        assert got["action"]["input"] == [{"metadata": {"encoding": "json/plain"}, "data": "form"}]
        assert got["policies"]["overlap"] == "allow_all" and got["state"]["paused"] is False

        # Edit: prefilled from describe; the change lands, the rest (state, calendar) is kept.
        await http.post(f"{path}/pause", json={"note": "kept across the edit"})
        await page.reload()
        await page.click("#schedule-edit", timeout=SLOW)
        form = page.locator("#schedule-form")
        await expect(form.locator("[name=intervals]")).to_have_value("1h offset 5m")
        await expect(form.locator("fieldset.calendar [name=hour]")).to_have_value("9-17/2")
        await expect(form.locator("[name=args]")).to_have_value('["form"]')
        await form.locator("[name=cron]").fill("")
        await form.locator("[name=args]").fill('["edited", 2]')
        await form.locator("[name=overlap]").select_option("skip")
        await form.locator("#schedule-save").click()
        await expect(page.locator("#schedule-action-result")).to_contain_text("Saved", timeout=SLOW)
        got = (await http.get(path)).json()
        assert got["spec"]["cron_expressions"] == [] and got["policies"]["overlap"] == "skip"
        assert [p["data"] for p in got["action"]["input"]] == ["edited", 2]
        assert got["state"]["paused"] is True and got["state"]["note"] == "kept across the edit"
        assert len(got["spec"]["calendars"]) == 1

        # A change made elsewhere while the form is open: the save is refused, not lost.
        await page.click("#schedule-edit")
        await expect(page.locator("#schedule-form")).to_be_visible()
        await http.post(f"{path}/unpause", json={})
        await page.locator("#schedule-form [name=workflow_type]").fill("OtherWorkflow")
        await page.click("#schedule-save")
        await expect(page.locator("#schedule-form-result .error")).to_contain_text("conflict", timeout=SLOW)
        assert (await http.get(path)).json()["action"]["workflow_type"] == "GreetingWorkflow"
        await page.click("#schedule-form-cancel")

        # Delete asks once more, then the list no longer has it. The armed button survives the
        # page's refreshes (every 5 s) even with the focus elsewhere: two refreshes go by.
        await page.click("#schedule-delete", timeout=SLOW)
        await expect(page.locator("#schedule-delete")).to_have_text("Confirm delete")
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(2):
            async with page.expect_response(
                lambda r: r.request.method == "GET" and "/api/v1/namespaces/default/schedules/form" in r.url,
                timeout=SLOW,
            ):
                pass
        await expect(page.locator("#schedule-delete")).to_have_text("Confirm delete")
        await page.click("#schedule-delete")
        await expect(page).to_have_url(re.compile(r"/schedules$"), timeout=SLOW)
        await expect(page.locator(f"#schedules tr[data-schedule-id='{sched_id}']")).to_have_count(0)
        assert (await http.get(path)).status_code == 404


async def test_a_long_history_is_read_whole_in_parallel_pages(running: Stack, page: Any) -> None:
    """A history of more than two API pages (1,000 events each): the page shows every event once,
    in order, whether it starts from describe (pages fetched at once) or from a run id."""
    client = await Client.connect(running.address)
    w1, _ = await _workers(client)
    wf_id = f"long-{uuid.uuid4().hex[:6]}"
    async with w1:
        handle = await client.start_workflow(
            uw.LongHistoryWorkflow.run, args=[700, 100], id=wf_id, task_queue=uw.TASK_QUEUE
        )
        assert await handle.result() == 700
    desc = await handle.describe()
    total = desc.history_length
    assert total > 2000, total
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/history" in r.url else None)
    for suffix in ("", f"?run_id={desc.run_id}"):
        requests.clear()
        await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/{wf_id}{suffix}")
        await expect(page.locator("#wf-id")).to_have_text(wf_id, timeout=SLOW)
        await page.click("#tab-events")
        rows = page.locator("#events tbody tr")
        await expect(rows).to_have_count(total, timeout=SLOW)
        ids = await page.eval_on_selector_all(
            "#events tbody tr td:first-child", "tds => tds.map((td) => Number(td.textContent))"
        )
        assert ids == list(range(1, total + 1))
        # One request per page of 1,000, none twice (the last page ends the history: no extra).
        assert len(requests) == len(set(requests)) == -(-total // 1000), requests
    await client.close()


async def test_encoded_payloads_are_marked_and_shown_as_stored(running: Stack, page: Any) -> None:
    """Input and memo in another encoding (an encryption codec's, say) are shown as stored with an
    `encoded: <encoding>` mark, never decoded or shown as if JSON; json/plain ones as their value."""
    wf_id = f"sealed-{uuid.uuid4().hex[:6]}"
    sealed = {"metadata": {"encoding": "binary/encrypted", "encryption-key-id": "k1"}, "data": "c2VjcmV0"}
    async with httpx.AsyncClient(base_url=running.address) as http:
        r = await http.post(
            "/api/v1/namespaces/default/workflows",
            json={
                "workflow_id": wf_id,
                "workflow_type": "SealedWorkflow",
                "task_queue": f"nobody-{wf_id}",  # no worker: the run waits, its payloads stay
                "input": [sealed, {"metadata": {"encoding": "json/plain"}, "data": {"plain": [1, 2]}}],
                "memo": {"note": sealed},
            },
        )
        assert r.status_code == 201, r.text
    await page.goto(f"{running.address}/ui/#/namespaces/default/workflows/{wf_id}")
    await expect(page.locator("#wf-id")).to_have_text(wf_id, timeout=SLOW)
    badges = page.locator(".encoded .badge")
    await expect(badges).to_have_count(2, timeout=SLOW)  # the input's first payload and the memo
    await expect(badges.first).to_have_text("encoded: binary/encrypted")
    shown = json.loads(await page.locator(".encoded pre").first.text_content() or "")
    assert shown == sealed
    await expect(page.locator("main")).to_contain_text('"plain": [')
    await expect(page.locator("main")).not_to_contain_text("secret")  # base64 of it, undecoded
