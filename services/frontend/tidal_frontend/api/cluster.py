"""GET /api/v1/cluster (what SDK workers need to join), GET /healthz and GET /readyz."""

from __future__ import annotations

import asyncio
import logging

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..context import Ctx

log = logging.getLogger("tidal.frontend")

READY_CHECK_SECONDS = 2.0


class ClusterInfo(BaseModel):
    shard_count: int = Field(description="workers route completions to shard_for(namespace, workflow_id, n)")
    worker_amqp_url: str | None = Field(
        description="the broker workers consume tasks from; null in embedded mode (in-memory bus: "
        "workers must run in the server's process)"
    )
    embedded: bool


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


async def cluster(ctx: Ctx) -> ClusterInfo:
    url = None if ctx.embedded else (ctx.settings.worker_amqp_url or ctx.settings.amqp_url)
    return ClusterInfo(shard_count=ctx.shard_count, worker_amqp_url=url, embedded=ctx.embedded)


async def healthz() -> Health:
    """Liveness: the process serves requests. Deliberately checks nothing else, so a broker or
    database outage does not make the orchestrator restart every frontend."""
    return Health(status="ok")


async def readyz(ctx: Ctx) -> JSONResponse:
    """Readiness: the database answers and this process's notification queue exists on the bus."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_CHECK_SECONDS):
            await ctx.store.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"{type(exc).__name__}: {exc}"[:200]
    if ctx.listener is None or not ctx.listener.running:
        checks["bus"] = "notification consumer not running"
    else:
        try:
            async with asyncio.timeout(READY_CHECK_SECONDS):
                # A broker round trip that also proves our notification queue still exists.
                await ctx.bus.queue_depth(ctx.listener.queue)
            checks["bus"] = "ok"
        except Exception as exc:
            checks["bus"] = f"{type(exc).__name__}: {exc}"[:200]
    problems = ctx.health.problems()
    checks["loops"] = "ok" if not problems else "; ".join(f"{k}: {v}" for k, v in problems.items())[:200]
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
