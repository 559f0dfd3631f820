"""/api/v1/namespaces: list, create, describe, update and deprecate namespaces.

Temporal deprecates rather than deletes, and so do we: `DELETE /namespaces/{ns}` marks the
namespace deprecated (its workflows stay readable and signalable, new starts answer 409
`namespace_deprecated`); closed runs still go when their retention period ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Field
from tidal_schema.limits import Text, check_namespace_name
from tidal_server.apikeys import ALL_NAMESPACES, Role

from ..auth import Caller, check
from ..context import Ctx
from ..namespace_registry import NamespaceInfo, NamespaceState
from .models import RequestModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
NamespaceName = Annotated[
    str, Path(min_length=1, max_length=200, pattern=NAME_PATTERN, description="namespace name")
]
RetentionDays = Annotated[int, Field(ge=1, le=36500, description="days closed runs are kept")]


class NamespaceModel(BaseModel):
    name: str
    description: str
    retention_days: int
    state: NamespaceState
    created_at: datetime | None

    @staticmethod
    def of(info: NamespaceInfo) -> NamespaceModel:
        return NamespaceModel(
            name=info.name,
            description=info.description,
            retention_days=info.retention_days,
            state=info.state,
            created_at=info.created_at,
        )


class NamespaceList(BaseModel):
    namespaces: list[NamespaceModel]


class CreateNamespaceRequest(RequestModel):
    # Its escaped form must leave room in RabbitMQ queue names (limits.MAX_NAMESPACE_QUEUE_BYTES).
    name: Annotated[str, AfterValidator(check_namespace_name)] = Field(
        min_length=1, max_length=200, pattern=NAME_PATTERN
    )
    description: Text = ""
    retention_days: RetentionDays = 30


class UpdateNamespaceRequest(RequestModel):
    description: Text | None = None
    retention_days: RetentionDays | None = None


async def list_namespaces(ctx: Ctx, who: Caller) -> NamespaceList:
    """Every namespace the key may read (all of them for a "*" key)."""
    found = await ctx.namespaces.list()
    return NamespaceList(namespaces=[NamespaceModel.of(n) for n in found if who.grants(n.name, Role.READER)])


async def create_namespace(ctx: Ctx, who: Caller, body: CreateNamespaceRequest) -> NamespaceModel:
    check(who, ALL_NAMESPACES, Role.ADMIN)
    info = await ctx.namespaces.create(
        name=body.name, description=body.description, retention_days=body.retention_days
    )
    return NamespaceModel.of(info)


async def describe_namespace(ctx: Ctx, who: Caller, namespace: NamespaceName) -> NamespaceModel:
    check(who, namespace, Role.READER)
    return NamespaceModel.of(await ctx.namespaces.require(namespace))


async def update_namespace(
    ctx: Ctx, who: Caller, namespace: NamespaceName, body: UpdateNamespaceRequest
) -> NamespaceModel:
    check(who, namespace, Role.ADMIN)
    values = body.model_dump(exclude_none=True)
    return NamespaceModel.of(await ctx.namespaces.update(namespace, **values))


async def deprecate_namespace(ctx: Ctx, who: Caller, namespace: NamespaceName) -> NamespaceModel:
    check(who, namespace, Role.ADMIN)
    info = await ctx.namespaces.update(namespace, state=NamespaceState.DEPRECATED.value)
    return NamespaceModel.of(info)
