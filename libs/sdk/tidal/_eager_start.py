"""Eager workflow start (temporalio's `start_workflow(request_eager_start=True)`): a client that
has a worker of its own on the run's task queue asks history for the run's first workflow task in
the start reply and hands it to that worker, saving the hop through matching.

The client knows its workers: each `Worker` with workflows registers with the `Client` object it
was built with while it runs (`EagerWorkers`). Before asking, the client reserves a workflow task
slot on one of them (same namespace, by construction, and same task queue, with the workflow type
registered); a reply without a task releases it. The worker runs the task as one it consumed from
the task queue (completion, then its sticky queue); if it dies first, history's workflow task
timeout hands the task out again through matching (docs/performance.md "Eager workflow start")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError
from tidal_schema.messages import WorkflowTask

from ._client_inputs import StartWorkflowInput

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["EagerDelivery", "EagerSlot", "EagerWorker", "EagerWorkers", "eager_slot", "hand_over"]

log = logging.getLogger("tidal.worker")


class EagerWorker(Protocol):
    """What the client needs of a worker (`Worker` implements it)."""

    task_queue: str

    def reserve_eager_slot(self, workflow_type: str) -> bool:
        """Take a free workflow task slot for an eager start of `workflow_type` (False: none)."""
        ...

    def release_eager_slot(self) -> None: ...

    def run_eager_task(self, task: WorkflowTask) -> None:
        """Run the granted task in the reserved slot (released when it is done)."""
        ...


class EagerSlot:
    """A reserved slot: `run` the granted task in it, or `release` it. Either, once."""

    def __init__(self, worker: EagerWorker) -> None:
        self._worker: EagerWorker | None = worker

    def run(self, task: WorkflowTask) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.run_eager_task(task)

    def release(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.release_eager_slot()


class EagerWorkers:
    """The running workers built with one `Client`."""

    def __init__(self) -> None:
        self._workers: list[EagerWorker] = []

    def add(self, worker: EagerWorker) -> None:
        if worker not in self._workers:
            self._workers.append(worker)

    def discard(self, worker: EagerWorker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)

    def reserve(self, task_queue: str, workflow_type: str) -> EagerSlot | None:
        for worker in self._workers:
            if worker.task_queue == task_queue and worker.reserve_eager_slot(workflow_type):
                return EagerSlot(worker)
        return None


class EagerDelivery:
    """The `TaskDelivery` of a task that came in a start reply: there is no broker message to
    acknowledge. A task the worker cannot complete cannot be requeued either; history's workflow
    task timeout hands it out again."""

    body = b""
    headers: Mapping[str, Any] = {}
    correlation_id: str | None = None

    def __init__(self, task: WorkflowTask) -> None:
        self._task = task

    async def ack(self) -> None:
        return None

    async def nack(self, *, requeue: bool = True) -> None:
        log.warning(
            "the eager first workflow task of %s was not completed; history hands it out again "
            "after its workflow task timeout",
            self._task.workflow_id,
        )

    async def dead_letter(self, reason: str) -> None:
        await self.nack()


def eager_slot(client: Client, input: StartWorkflowInput) -> EagerSlot | None:
    """A slot reserved for this start's first task, or None: not asked for, a start that cannot
    be eager (history would schedule its first task later, or after a signal), or no worker of
    this client with a free slot."""
    if not input.request_eager_start or input.start_signal is not None:
        return None
    if input.cron_schedule or input.start_delay:
        return None
    return client._eager_workers.reserve(input.task_queue, input.workflow)


async def hand_over(slot: EagerSlot, raw: Any) -> None:
    """The start's reply came: run its task in the slot, or free the slot (not granted).

    A granted task is on the run's critical path (nothing else moves the run until its completion
    reaches history), so it goes first: one yield lets it reach the workflow thread before the
    caller, typically about to send the result's long poll on this loop, takes its turn."""
    if raw is None:
        slot.release()
        return
    try:
        task = WorkflowTask.model_validate(raw)
    except ValidationError as exc:
        slot.release()
        log.warning("an unreadable eager workflow task in a start reply (its timeout recovers it): %s", exc)
        return
    slot.run(task)
    await asyncio.sleep(0)
