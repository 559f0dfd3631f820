"""Route dependencies for authentication and authorisation: `Authorization: Bearer <api key>`
(see `authn.py` for what a key grants)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from tidal_server.apikeys import ALL_NAMESPACES, Role

from .authn import Principal
from .context import Ctx
from .problems import Problem

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer tidal_<key_id>_<secret>` (only when the server "
    "runs with TIDAL_AUTH_ENABLED=true)",
)


async def principal(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return await ctx.auth.authenticate(credentials.credentials if credentials else None)


Caller = Annotated[Principal, Depends(principal)]
"""Endpoint parameter type: the authenticated caller."""


def forbidden(who: Principal, namespace: str, needed: Role) -> Problem:
    scope = "every namespace" if who.namespace == ALL_NAMESPACES else f"namespace {who.namespace!r}"
    return Problem(
        "forbidden",
        f"this API key ({who.role.value} on {scope}) may not do this: it needs {needed.value} "
        f"on namespace {namespace!r}",
    )


def check(who: Principal, namespace: str, needed: Role) -> None:
    if not who.grants(namespace, needed):
        raise forbidden(who, namespace, needed)


def require(needed: Role) -> Callable[..., Awaitable[Principal]]:
    """A route dependency: the caller holds `needed` on the route's `{namespace}`, and (for
    routes under a namespace) the namespace exists. Checked in that order, so a key cannot probe
    which namespaces exist outside its scope."""

    async def dependency(request: Request, ctx: Ctx, who: Caller) -> Principal:
        namespace = request.path_params.get("namespace")
        if namespace is None:
            return who
        check(who, namespace, needed)
        await ctx.namespaces.require(namespace)
        return who

    return dependency


def authenticated() -> Callable[..., Awaitable[Principal]]:
    async def dependency(who: Caller) -> Principal:
        return who

    return dependency
