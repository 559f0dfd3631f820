"""What the web UI tests share: Playwright (skipping the module without it or without Debian's
chromium), its expectation timeout on a shared machine, and the stack helpers they start from.
Imported by the test modules (which skip with it); the fixtures are in conftest.py."""

from __future__ import annotations

import shutil

import pytest
from tidal.client import Client
from tidal.worker import Worker

from tests.support import ui_workflows as uw
from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
# The machine is shared and the stack runs real services: wait up to 30 s for any expectation.
expect.set_options(timeout=30_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SLOW = 30_000  # ms: the stack runs workflows while other tests load the machine

if shutil.which(CHROMIUM) is None:  # bootstrap.sh --test-servers installs it; CI must have it
    pytest.skip("Debian's chromium is not installed: apt-get install -y chromium", allow_module_level=True)


async def workers(client: Client) -> list[Worker]:
    return [
        Worker(client, task_queue=uw.TASK_QUEUE, workflows=uw.ALL_WORKFLOWS, activities=uw.ALL_ACTIVITIES),
        Worker(client, task_queue="e2e", workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES),
    ]
