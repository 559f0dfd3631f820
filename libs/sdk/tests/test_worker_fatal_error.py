"""`Worker(on_fatal_error=...)`: awaited with the failure before the shutdown of a worker that
cannot run (here: its broker refuses the connection: a real refused TCP connect, no mock)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tidal import workflow
from tidal.client import Client
from tidal.worker import Worker


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens on it any more: a connect is refused at once


async def _unreachable_client() -> Client:
    return await Client.connect(
        f"http://127.0.0.1:{_closed_port()}",
        lazy=True,
        amqp_url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}",
    )


async def test_on_fatal_error_gets_the_failure_before_shutdown_and_run_raises_it() -> None:
    client = await _unreachable_client()
    seen: list[tuple[BaseException, bool]] = []
    worker: Worker

    async def on_fatal_error(exc: BaseException) -> None:
        seen.append((exc, worker.is_shutdown))

    worker = Worker(client, task_queue="q", workflows=[Noop], on_fatal_error=on_fatal_error)
    assert worker.config()["on_fatal_error"] is on_fatal_error
    with pytest.raises(Exception) as raised:
        await asyncio.wait_for(worker.run(), timeout=30)
    assert len(seen) == 1
    exc, shut_down_then = seen[0]
    assert exc is raised.value and not shut_down_then  # called before the shutdown
    assert worker.is_shutdown and not worker.is_running
    await client.close()


async def test_a_failing_handler_does_not_replace_the_failure() -> None:
    client = await _unreachable_client()

    async def broken(exc: BaseException) -> None:
        raise RuntimeError("handler bug")

    worker = Worker(client, task_queue="q", workflows=[Noop], on_fatal_error=broken)
    with pytest.raises(Exception) as raised:
        await asyncio.wait_for(worker.run(), timeout=30)
    assert "handler bug" not in str(raised.value)
    assert worker.is_shutdown
    await client.close()
