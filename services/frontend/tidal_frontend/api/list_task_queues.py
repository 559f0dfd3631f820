"""GET /api/v1/namespaces/{ns}/task-queues: the task queues seen in a namespace, with their
pollers and backlog.

"Seen" means some run of the namespace (running or closed, until retention deletes it) has it as
its workflow task queue: the names come from `executions` (a skip scan over an index, so a page
costs the same with 100 runs or 100,000), the figures from the broker as in describe. A queue
only activities were ever sent to, with no run of its own, is not listed (describe it by name).
Pages are in name order; `next_page_token` is opaque.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field
from tidal_schema.limits import check_store_safe

from ..context import Ctx
from ..problems import Problem
from .describe_task_queue import DescribeTaskQueueResponse, read_task_queue
from .models import NamespacePath

__all__ = ["MAX_PAGE_SIZE", "ListTaskQueuesResponse", "list_task_queues"]

# Each listed queue costs two broker probes: a page is kept small enough to answer quickly.
MAX_PAGE_SIZE = 200
# Probes in flight at once (each opens a short-lived channel on the frontend's connection).
_CONCURRENT_PROBES = 8


class ListTaskQueuesResponse(BaseModel):
    namespace: str
    task_queues: list[DescribeTaskQueueResponse]
    next_page_token: str | None = Field(description="pass back for the next page; null on the last")


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after(token: str | None) -> str:
    if not token:
        return ""
    try:
        # A forged token holding NUL or a lone surrogate would reach the database: refuse it here.
        return check_store_safe(
            base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode(), "next_page_token"
        )
    except (binascii.Error, UnicodeError, ValueError):
        raise Problem("invalid_argument", "next_page_token is not one this API returned") from None


async def list_task_queues(
    ctx: Ctx,
    namespace: NamespacePath,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    next_page_token: Annotated[
        str | None, Query(max_length=2000, description="from the previous page")
    ] = None,
) -> ListTaskQueuesResponse:
    after = _after(next_page_token)
    # One more than asked: whether there is a next page, without a second query.
    found = await ctx.store.task_queue_names(namespace, after=after, limit=page_size + 1)
    page = found[:page_size]
    gate = asyncio.Semaphore(_CONCURRENT_PROBES)

    async def probe(name: str) -> DescribeTaskQueueResponse:
        async with gate:
            return await read_task_queue(ctx, namespace, name)

    return ListTaskQueuesResponse(
        namespace=namespace,
        task_queues=list(await asyncio.gather(*(probe(n) for n in page))),
        next_page_token=_token(page[-1]) if len(found) > page_size else None,
    )
