"""The SDK applies the server's edge limits where that is cheap, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from tidal import workflow
from tidal.worker import Worker, WorkerError


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


@pytest.mark.parametrize("task_queue", ["q" * 300, "é" * 40, "nul\x00"])
def test_a_worker_refuses_a_task_queue_the_server_would_refuse(task_queue: str) -> None:
    client: Any = None  # refused before the client is used
    with pytest.raises(WorkerError, match="task_queue"):
        Worker(client, task_queue=task_queue, workflows=[Noop])
