"""/api/v1/api-keys: create (the key is in the answer, once), list, describe and revoke keys.

Admins only: an admin of every namespace ("*") manages every key; an admin of one namespace
manages that namespace's keys. Keys are cluster metadata the frontend writes directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Response
from pydantic import BaseModel, Field
from tidal_schema.limits import STORE_SAFE_PATTERN, Text
from tidal_server import apikeys
from tidal_server.apikeys import ALL_NAMESPACES, ApiKeyInfo, Role

from ..auth import Caller, check
from ..authn import Principal
from ..context import Ctx
from ..problems import Problem
from .models import RequestModel

KeyIdPath = Annotated[str, Path(min_length=1, max_length=100, description="the key's id (its prefix)")]
NamespaceFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        pattern=STORE_SAFE_PATTERN,
        description='only keys for this namespace (or "*")',
    ),
]
RoleFilter = Annotated[Role | None, Query(description="only keys with this role")]


class ApiKeyModel(BaseModel):
    key_id: str
    namespace: str = Field(description='a namespace, or "*" for every namespace')
    role: Role
    description: str
    created_at: datetime | None

    @staticmethod
    def of(info: ApiKeyInfo) -> ApiKeyModel:
        return ApiKeyModel(
            key_id=info.key_id,
            namespace=info.namespace,
            role=info.role,
            description=info.description,
            created_at=info.created_at,
        )


class CreatedApiKey(ApiKeyModel):
    key: str = Field(description="the secret key: shown only in this answer, store it now")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyModel]


class CreateApiKeyRequest(RequestModel):
    namespace: str = Field(
        min_length=1, max_length=200, pattern=STORE_SAFE_PATTERN, description='a namespace, or "*"'
    )
    role: Role
    description: Text = ""


def _not_found(key_id: str) -> Problem:
    return Problem("not_found", f"API key {key_id!r} not found")


async def create_api_key(ctx: Ctx, who: Caller, body: CreateApiKeyRequest) -> CreatedApiKey:
    check(who, body.namespace, Role.ADMIN)
    if body.namespace != ALL_NAMESPACES:
        await ctx.namespaces.require(body.namespace)
    info, key = await apikeys.create_key(
        ctx.engine, namespace=body.namespace, role=body.role, description=body.description
    )
    return CreatedApiKey(**ApiKeyModel.of(info).model_dump(), key=key)


def _manages(who: Principal, info: ApiKeyInfo) -> bool:
    return who.grants(info.namespace, Role.ADMIN)


async def list_api_keys(
    ctx: Ctx, who: Caller, namespace: NamespaceFilter = None, role: RoleFilter = None
) -> ApiKeyList:
    if who.role is not Role.ADMIN:
        check(who, who.namespace, Role.ADMIN)
    scope = None if who.namespace == ALL_NAMESPACES else who.namespace
    found = await apikeys.list_keys(ctx.engine, namespace=namespace if scope is None else scope)
    return ApiKeyList(
        api_keys=[
            ApiKeyModel.of(k)
            for k in found
            if _manages(who, k) and namespace in (None, k.namespace) and role in (None, k.role)
        ]
    )


async def describe_api_key(ctx: Ctx, who: Caller, key_id: KeyIdPath) -> ApiKeyModel:
    check(who, who.namespace, Role.ADMIN)
    info = await apikeys.get_key(ctx.engine, key_id)
    # Outside the caller's scope looks like absent: no probing other namespaces' key ids.
    if info is None or not _manages(who, info):
        raise _not_found(key_id)
    return ApiKeyModel.of(info)


async def revoke_api_key(ctx: Ctx, who: Caller, key_id: KeyIdPath) -> Response:
    check(who, who.namespace, Role.ADMIN)
    info = await apikeys.get_key(ctx.engine, key_id)
    if info is None or not _manages(who, info):
        raise _not_found(key_id)
    await apikeys.delete_key(ctx.engine, key_id)
    ctx.auth.forget(key_id)
    return Response(status_code=204)
