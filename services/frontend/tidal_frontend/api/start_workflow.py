"""POST /api/v1/namespaces/{ns}/workflows: the HTTP adapter of `operations.start_workflow`, with the
result on request (`wait_for_result`).

`wait_for_result` (seconds) makes the start also the run's first result long poll: the start is
done exactly as without it (history's commit, then the answer's fields), then the request waits
for the run to close, as `GET .../result?run_id=&wait=` would, and the answer carries the poll's
answer in `result`. A client that wants the result (the SDK's `execute_workflow`) saves a round
trip and the frontend a request per workflow. Nothing about the start changes: it is acknowledged
by history's commit before the wait begins, so a caller that gives up (or loses the answer) and
retries with the same request_id gets the same run, and polls its result as usual. An eager start
that was granted its first workflow task is answered at once (the task must reach the caller's
worker now), without `result`. Over AMQP (commands.py) and in update-with-start there is nothing
to wait with: they ignore it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import Depends, Response

from ..auth import admission
from ..context import Ctx, FrontendContext
from ..operations import start_workflow as op
from ..operations.policy import Admitted
from ..operations.start_workflow import StartSignal, StartWorkflowRequest, StartWorkflowResponse
from .get_result import get_result
from .namespaces import NamespaceName

__all__ = [
    "StartSignal",
    "StartWorkflowRequest",
    "StartWorkflowResponse",
    "start_and_wait",
    "start_workflow",
]

log = logging.getLogger("tidal.frontend")


async def start_and_wait(
    ctx: FrontendContext, admitted: Admitted, body: StartWorkflowRequest
) -> tuple[int, StartWorkflowResponse]:
    """(status, answer) of a start, waiting for the result when asked (shared with inprocess.py)."""
    start = op.start_workflow(ctx, admitted, body)
    # Shielded when a wait follows: the fast path cancels a waiting request whose client hung up
    # (fast_path.py), and that must cut the wait short, never a start already on its way to
    # history (it finishes as a plain start does when its client leaves).
    answer = await (asyncio.shield(start) if body.wait_for_result is not None else start)
    # 201 Created for a new run; 200 when UseExisting handed back the run already running.
    status = 201 if answer.started else 200
    if body.wait_for_result is not None and answer.eager_workflow_task is None:
        namespace = admitted.namespace_for(op.POLICY)
        # The start is committed and answered in full before this: a failure of the wait (the
        # database unreachable for the poll's read) must not turn an acknowledged start into an
        # error the caller would retry as a new start; it answers without `result` instead.
        try:
            answer.result = await get_result(
                ctx, namespace, answer.workflow_id, answer.run_id, body.wait_for_result
            )
        except Exception:
            log.warning("waiting for the result of a start failed; answered without it", exc_info=True)
            answer.result = None
    return status, answer


async def start_workflow(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespaceName,
    body: StartWorkflowRequest,
    response: Response,
) -> StartWorkflowResponse:
    del namespace  # documented path parameter; admission read it
    response.status_code, answer = await start_and_wait(ctx, admitted, body)
    return answer
