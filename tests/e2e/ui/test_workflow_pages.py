"""The web UI's workflow pages in a real browser (Playwright driving Debian's chromium) on the real
stack: the list and its filter, a workflow's timeline and history, a signal that completes it, a
terminate, the query runner, pending activities and children, run chains, a long history read in
pages, and encoded payloads. Browser and page fixtures in conftest.py."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from tidal.client import Client, PendingActivityState
from tidal.common import RetryPolicy

from tests.e2e.ui.browser import SLOW, expect, workers
from tests.support import ui_workflows as uw
from tests.support.stack import Stack, wait_for
from tests.support.workflows import GreetingWorkflow


async def test_list_filter_workflow_page_signal_terminate_query(running: Stack, page: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    client = await Client.connect(running.address)
    w1, w2 = await workers(client)
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
    w1, w2 = await workers(client)
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
    w1, w2 = await workers(client)
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


async def test_a_long_history_is_read_whole_in_parallel_pages(running: Stack, page: Any) -> None:
    """A history of more than two API pages (1,000 events each): the page shows every event once,
    in order, whether it starts from describe (pages fetched at once) or from a run id."""
    client = await Client.connect(running.address)
    w1, _ = await workers(client)
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
