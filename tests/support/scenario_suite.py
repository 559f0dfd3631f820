"""Scenarios run in both modes: each one alone on a fresh embedded server, and all at once on
the real stack (one stack start for the file, which is what keeps the e2e suite's time bounded).

A scenario is `async (client, task_queue) -> None` and raises when what it checks is wrong.
A test module builds a `SUITE = ScenarioSuite(...)` and takes its tests with
`test_embedded, test_stack = SUITE.pytest_tests()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment
from tidal.worker import Worker

__all__ = ["Scenario", "ScenarioSuite"]

Scenario = Callable[[Client, str], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class ScenarioSuite:
    scenarios: Sequence[Scenario]
    # The task queue a scenario is given: the shared worker's, or one of its own.
    queue: Callable[[Scenario], str]
    # When set, one worker on this queue serves every scenario; otherwise each starts its own.
    task_queue: str | None = None
    workflows: Sequence[type] = ()
    activities: Sequence[Callable[..., Any]] = ()
    timeout: float | None = None  # per scenario, embedded; twice this on the loaded stack

    @property
    def ids(self) -> list[str]:
        return [s.__name__ for s in self.scenarios]

    @asynccontextmanager
    async def _worker(self, client: Client) -> AsyncIterator[None]:
        if self.task_queue is None:
            yield
            return
        async with Worker(
            client,
            task_queue=self.task_queue,
            workflows=list(self.workflows),
            activities=list(self.activities),
        ):
            yield

    @asynccontextmanager
    async def embedded(self) -> AsyncIterator[Client]:
        env = await WorkflowEnvironment.start_local()
        try:
            async with self._worker(env.client):
                yield env.client
        finally:
            await env.shutdown()

    async def run_one(self, client: Client, scenario: Scenario) -> None:
        run = scenario(client, self.queue(scenario))
        await (run if self.timeout is None else asyncio.wait_for(run, timeout=self.timeout))

    async def run_all(self, address: str) -> None:
        """Every scenario at once against `address`; each failure is named."""
        client = await Client.connect(address)
        try:
            async with self._worker(client):
                results = await asyncio.gather(
                    *(self._on_stack(client, s) for s in self.scenarios), return_exceptions=True
                )
        finally:
            await client.close()
        for name, r in zip(self.ids, results, strict=True):
            if isinstance(r, BaseException):
                raise AssertionError(f"scenario {name} failed: {r!r}") from r

    def pytest_tests(self) -> tuple[Callable[..., Awaitable[None]], Callable[..., Awaitable[None]]]:
        """The module's two tests: each scenario on its own embedded server (one test per
        scenario, named after it), and all of them at once on the stack (`running`: the module's
        `shared_stack` mark decides whose)."""
        suite = self

        @pytest.mark.parametrize("scenario", self.scenarios, ids=self.ids)
        async def test_embedded(scenario: Scenario) -> None:
            async with suite.embedded() as client:
                await suite.run_one(client, scenario)

        async def test_stack(running: Any) -> None:
            await suite.run_all(running.address)

        return test_embedded, test_stack

    async def _on_stack(self, client: Client, scenario: Scenario) -> None:
        run = scenario(client, self.queue(scenario))
        await (run if self.timeout is None else asyncio.wait_for(run, timeout=2 * self.timeout))
