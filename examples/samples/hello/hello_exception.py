"""An activity that always fails: after two attempts the workflow fails, and the caller gets
`WorkflowFailureError` whose cause chain is ActivityError -> ApplicationError."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from tidal import activity, workflow
from tidal.client import Client, WorkflowFailureError
from tidal.common import RetryPolicy
from tidal.exceptions import ActivityError, ApplicationError, FailureError, RetryState
from tidal.worker import Worker

TASK_QUEUE = "hello-exception-task-queue"


@dataclass
class ComposeGreetingInput:
    greeting: str
    name: str


@activity.defn
async def compose_greeting(input: ComposeGreetingInput) -> str:
    raise RuntimeError(f"greeting {input.name} is not implemented")


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            compose_greeting,
            ComposeGreetingInput("Hello", name),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=2),
        )


def describe_chain(err: BaseException) -> list[str]:
    """The cause chain as temporalio code walks it: `FailureError.cause` (or `__cause__`)."""
    chain: list[str] = []
    cur: BaseException | None = err
    while cur is not None:
        line = type(cur).__name__
        if isinstance(cur, ActivityError):
            line += f"(retry_state={cur.retry_state.name if cur.retry_state else None})"
        if isinstance(cur, ApplicationError):
            line += f"(type={cur.type}, message={cur.message})"
        chain.append(line)
        cur = cur.cause if isinstance(cur, FailureError | WorkflowFailureError) else cur.__cause__
    return chain


async def run(client: Client, *, workflow_id: str = "hello-exception-workflow-id") -> list[str]:
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=[GreetingWorkflow], activities=[compose_greeting]
    ):
        try:
            await client.execute_workflow(
                GreetingWorkflow.run, "World", id=workflow_id, task_queue=TASK_QUEUE
            )
        except WorkflowFailureError as err:
            assert isinstance(err.cause, ActivityError)
            assert err.cause.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED
            return describe_chain(err)
    raise AssertionError("the workflow should have failed")


async def main() -> None:
    client = await Client.connect("localhost:7243")
    print("\n".join(await run(client)))


if __name__ == "__main__":
    asyncio.run(main())
