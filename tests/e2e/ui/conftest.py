"""Fixtures of the web UI tests: one browser for the package, a fresh page (context) per test, and
no JavaScript error allowed on it. Each test gets its own stack (`running`, tests/e2e/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Any]:
    from tests.e2e.ui.browser import CHROMIUM, CHROMIUM_ARGS, playwright_api

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
