"""The web UI's schedule pages in a real browser on the real stack: the list, a schedule's page,
pause, unpause and trigger, and a schedule created, edited and deleted from the form."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from tidal.client import Client

from tests.e2e.ui.browser import SLOW, expect, workers
from tests.support.stack import Stack


async def test_schedules_list_describe_pause_unpause_trigger(running: Stack, page: Any) -> None:
    """The schedules page: the list, a schedule's page, pause with a note and unpause, and a
    trigger whose run is linked from the recent actions and completes."""
    client = await Client.connect(running.address)
    w1, w2 = await workers(client)
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
