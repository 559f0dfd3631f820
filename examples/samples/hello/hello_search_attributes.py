"""Typed search attributes: set at start with `TypedSearchAttributes`, upserted by the workflow
with `key.value_set(...)`, read back from `describe()` and used to find the run with a list
query."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import workflow
from tidal.client import Client
from tidal.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from tidal.worker import Worker

TASK_QUEUE = "hello-search-attributes-task-queue"

customer_id_key = SearchAttributeKey.for_keyword("CustomerId")
misc_data_key = SearchAttributeKey.for_text("MiscData")
order_count_key = SearchAttributeKey.for_int("OrderCount")


@workflow.defn
class GreetingWorkflow:
    def __init__(self) -> None:
        self._finish = False

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes(
            [customer_id_key.value_set("customer_2"), order_count_key.value_set(3)]
        )
        await workflow.wait_condition(lambda: self._finish, timeout=timedelta(minutes=5))

    @workflow.signal
    def finish(self) -> None:
        self._finish = True


async def run(client: Client, *, workflow_id: str = "hello-search-attributes-workflow-id") -> list[str]:
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow]):
        handle = await client.start_workflow(
            GreetingWorkflow.run,
            id=workflow_id,
            task_queue=TASK_QUEUE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(customer_id_key, "customer_1"),
                    SearchAttributePair(misc_data_key, "customer_1_data"),
                ]
            ),
        )
        # The upsert is recorded by the first workflow task; wait until describe shows it.
        for _ in range(200):
            attrs = (await handle.describe()).typed_search_attributes
            if attrs.get(customer_id_key) == "customer_2":
                break
            await asyncio.sleep(0.05)
        found = [
            e.id
            async for e in client.list_workflows(
                f"CustomerId = 'customer_2' AND WorkflowId = '{workflow_id}'"
            )
        ]
        await handle.signal(GreetingWorkflow.finish)
        await handle.result()
        return [
            f"CustomerId: {attrs[customer_id_key]}",
            f"MiscData: {attrs[misc_data_key]}",
            f"OrderCount: {attrs[order_count_key]}",
            f"found by list: {found == [workflow_id]}",
        ]


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print(await run(client))


if __name__ == "__main__":
    asyncio.run(main())
