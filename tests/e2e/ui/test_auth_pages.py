"""The web UI with auth on, in a real browser on the real stack: sign-in by API key, a reader
without action buttons, and the admin pages (namespaces and API keys)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from tidal.client import Client

from tests.e2e.ui.browser import SLOW, expect, workers
from tests.support import ui_workflows as uw
from tests.support.stack import SERVICES, Stack, create_admin_key


async def test_sign_in_and_a_reader_sees_no_action_buttons(stack: Stack, page: Any) -> None:
    admin = await create_admin_key(stack)
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
    w1, w2 = await workers(client)
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
    admin = await create_admin_key(stack)
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
