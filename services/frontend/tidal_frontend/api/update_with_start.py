"""POST /api/v1/namespaces/{ns}/update-with-start: the HTTP adapter of
`operations.update_with_start`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response

from ..auth import admission
from ..context import Ctx
from ..operations import update_with_start as op
from ..operations.policy import Admitted
from ..operations.update_with_start import UpdateWithStartRequest, UpdateWithStartResponse
from .namespaces import NamespaceName

__all__ = ["UpdateWithStartRequest", "UpdateWithStartResponse", "update_with_start"]


async def update_with_start(
    ctx: Ctx,
    admitted: Annotated[Admitted, Depends(admission(op.POLICY))],
    namespace: NamespaceName,
    body: UpdateWithStartRequest,
    response: Response,
) -> UpdateWithStartResponse:
    del namespace  # documented path parameter; admission read it
    answer = await op.update_with_start(ctx, admitted, body)
    # 201 Created when a run was started; 200 when the update went to the running run.
    response.status_code = 201 if answer.started else 200
    return answer
