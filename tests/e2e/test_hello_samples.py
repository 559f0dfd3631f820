"""Temporal's `hello` samples, written with only `tidal` imports (examples/samples/hello), run embedded
and on the real stack, each asserting what the sample prints (issue 11: a pattern that needs more
than the import line changed is a parity bug)."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tidal.client import Client
from tidal.testing import WorkflowEnvironment

from tests.support.stack import Stack

# `running` is tests/e2e's shared stack: these tests use their own ids and task queues.
pytestmark = pytest.mark.shared_stack

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "samples" / "hello"


def _sorted(value: Any) -> Any:
    return sorted(value)


# sample module -> (what its run() returns, normalised by the function, if any)
EXPECTED: dict[str, tuple[Any, Callable[[Any], Any] | None]] = {
    "hello_activity": ("Hello, World!", None),
    "hello_activity_retry": ("Hello, World! (attempt 4)", None),
    "hello_async_activity_completion": ("Hello, World!", None),
    # The activity learns of the cancellation from a heartbeat reply or, at the latest, from the
    # worker's shutdown: either may come first.
    "hello_cancellation": (sorted(["activity cancelled", "cleanup ran", "workflow cancelled"]), _sorted),
    "hello_child_workflow": ("Hello, World!", None),
    "hello_continue_as_new": ("iteration 5, continued from an earlier run: True", None),
    "hello_cron": ([f"Hello, World! (run {i})" for i in (1, 2, 3)], None),
    "hello_exception": (
        [
            "WorkflowFailureError",
            "ActivityError(retry_state=MAXIMUM_ATTEMPTS_REACHED)",
            "ApplicationError(type=RuntimeError, message=greeting World is not implemented)",
        ],
        None,
    ),
    "hello_local_activity": ("Hello, World! (local: True)", None),
    "hello_parallel_activity": ([f"Hello, user{i}!" for i in range(1, 6)], None),
    "hello_patch": (
        [
            "original: Hello, old!",
            "original run replays with the patched code",
            "patched: Bonjour, new!",
            "patched run replays with the patch deprecated",
        ],
        None,
    ),
    "hello_query": (["Hello, World!", "Goodbye, World!"], None),
    "hello_schedule": (["Hello, schedules!", "schedule deleted: True"], None),
    "hello_search_attributes": (
        ["CustomerId: customer_2", "MiscData: customer_1_data", "OrderCount: 3", "found by list: True"],
        None,
    ),
    "hello_signal": (["Hello, user1", "Hello, user2", "Hello, user3"], None),
    "hello_update": (
        ["previous: Hello", "rejected: the greeting must not be empty", "Bonjour, World!"],
        None,
    ),
}
NAMES = sorted(EXPECTED)
# Each sample runs well under a second embedded; the deadline only bounds a hang.
DEADLINE = 60.0


def test_every_sample_is_checked() -> None:
    assert sorted(p.stem for p in SAMPLES_DIR.glob("hello_*.py")) == NAMES


def test_samples_import_only_tidal() -> None:
    """Only the import lines differ from temporalio code: no sample reaches into tidal_* or
    private modules."""
    for path in SAMPLES_DIR.glob("hello_*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import ", "from ")):
                module = line.split()[1]
                assert not module.startswith(("tidal_", "tests")), f"{path.name}: {line}"
                assert "._" not in module and not module.startswith("tidal._"), f"{path.name}: {line}"


async def _run(name: str, client: Client) -> None:
    module = importlib.import_module(f"examples.samples.hello.{name}")
    result = await asyncio.wait_for(
        module.run(client, workflow_id=f"{name}-{uuid.uuid4().hex[:8]}"), DEADLINE
    )
    expected, normalise = EXPECTED[name]
    assert (normalise(result) if normalise else result) == expected, name


@pytest.fixture(scope="module")
async def embedded() -> AsyncIterator[Client]:
    env = await WorkflowEnvironment.start_local()
    try:
        yield env.client
    finally:
        await env.shutdown()


@pytest.mark.parametrize("name", NAMES)
async def test_embedded(embedded: Client, name: str) -> None:
    await _run(name, embedded)


async def test_stack(running: Stack) -> None:
    """Every sample at once on one stack (each has its own task queue and workflow ids)."""
    client = await Client.connect(running.address)
    try:
        results = await asyncio.gather(*(_run(n, client) for n in NAMES), return_exceptions=True)
    finally:
        await client.close()
    failed = {n: r for n, r in zip(NAMES, results, strict=True) if isinstance(r, BaseException)}
    assert not failed, failed
