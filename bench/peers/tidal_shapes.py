"""The bench's workflow shapes written for Tidal (the same shapes as `temporal_shapes.py`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tidal import activity, workflow

__all__ = ["ACTIVITIES", "WORKFLOWS", "GreetingWorkflow", "SleepWorkflow", "TenActivitiesWorkflow", "greet"]

TIMEOUT = timedelta(seconds=30)


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, start_to_close_timeout=TIMEOUT)


@workflow.defn
class TenActivitiesWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        out = ""
        for _ in range(10):
            out = await workflow.execute_activity(greet, name, start_to_close_timeout=TIMEOUT)
        return out


@workflow.defn
class SleepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        """Lateness in seconds as the workflow sees it: its clock after the sleep, minus its
        clock before, minus the sleep."""
        before = workflow.now()
        await asyncio.sleep(seconds)
        return (workflow.now() - before).total_seconds() - seconds


WORKFLOWS = [GreetingWorkflow, TenActivitiesWorkflow, SleepWorkflow]
ACTIVITIES = [greet]
