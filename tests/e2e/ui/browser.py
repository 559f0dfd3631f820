"""What the web UI tests share: Playwright (skipping the module without it or without Debian's
chromium), its expectation timeout on a shared machine, and the stack helpers they start from.
Imported by the test modules (which skip with it); the fixtures are in conftest.py."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys

import pytest
from tidal.client import Client
from tidal.worker import Worker

from tests.support import ui_workflows as uw
from tests.support.stack import ROOT, Stack
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


async def cli_admin_key(stack: Stack) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidal_server.cli", "api-key", "create", "--namespace", "*", "--role", "admin",
        "--output", "json",
        env=stack.env(), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return str(json.loads(out)["key"])
