"""Worker options as temporalio spells them: tuners, config(), slots (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from tidal import workflow
from tidal.worker import FixedSizeSlotSupplier, Worker, WorkerError, WorkerTuner


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


client: Any = object()  # the constructor does not use it


def test_a_tuner_or_max_concurrent_not_both() -> None:
    tuner = WorkerTuner.create_fixed(workflow_slots=3)
    worker = Worker(client, task_queue="q", workflows=[Noop], tuner=tuner)
    assert (worker._max_wft, worker._max_act, worker._max_local) == (3, 100, 100)
    with pytest.raises(WorkerError, match="not both"):
        Worker(client, task_queue="q", workflows=[Noop], tuner=tuner, max_concurrent_activities=5)
    with pytest.raises(WorkerError, match="at least 1"):
        Worker(client, task_queue="q", workflows=[Noop], max_concurrent_workflow_tasks=0)
    with pytest.raises(WorkerError, match="at least one slot"):
        FixedSizeSlotSupplier(0)
    with pytest.raises(WorkerError, match="fixed-size"):
        WorkerTuner.create_composite(
            workflow_supplier=FixedSizeSlotSupplier(1),
            activity_supplier=object(),  # type: ignore[arg-type]
            local_activity_supplier=FixedSizeSlotSupplier(1),
        )


def test_config_rebuilds_the_worker_and_is_a_copy() -> None:
    worker = Worker(
        client, task_queue="q", workflows=[Noop], max_concurrent_local_activities=7, identity="me"
    )
    config = worker.config()
    assert config["client"] is client and config["task_queue"] == "q" and config["workflows"] == [Noop]
    config["task_queue"] = "other"
    assert worker.config()["task_queue"] == "q"
    again = Worker(**config)
    assert again.task_queue == "other" and again.identity == "me" and again._max_local == 7
    other: Any = object()
    worker.client = other
    assert worker.client is other and worker.config()["client"] is client
    assert worker.config(active_config=True)["client"] is other


def test_sync_activities_on_a_process_pool_need_a_shared_state_manager() -> None:
    import concurrent.futures

    from tidal import activity
    from tidal.worker import SharedStateManager

    @activity.defn(name="sync_one")
    def sync_one() -> None: ...

    class _Manager(SharedStateManager):
        def new_event(self) -> Any: ...
        async def register_heartbeater(self, task_token: bytes, heartbeat: Any) -> Any: ...
        async def unregister_heartbeater(self, task_token: bytes) -> None: ...

    pool = concurrent.futures.ProcessPoolExecutor(1)
    try:
        with pytest.raises(WorkerError, match="shared_state_manager="):
            Worker(client, task_queue="q", activities=[sync_one], activity_executor=pool)
        worker = Worker(
            client,
            task_queue="q",
            activities=[sync_one],
            activity_executor=pool,
            shared_state_manager=_Manager(),
        )
        assert worker.config()["shared_state_manager"] is not None
    finally:
        pool.shutdown()
    with concurrent.futures.ThreadPoolExecutor(1) as threads:  # threads need none
        Worker(client, task_queue="q", activities=[sync_one], activity_executor=threads)
