"""Route dependencies for authentication and authorisation: `Authorization: Bearer <api key>`
(see `authn.py` for what a key grants). The checks themselves are `operations.policy`'s, shared
with every other ingress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from tidal_server.apikeys import Role

from .authn import Principal
from .context import Ctx
from .operations.policy import Admitted, Policy, admit, check_role, check_worker, forbidden

__all__ = ["Caller", "admission", "check", "forbidden", "principal", "require", "worker"]

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


check = check_role


def require(needed: Role) -> Callable[..., Awaitable[Principal]]:
    """A route dependency of the routes not yet in `operations`: the caller holds `needed` on the
    route's `{namespace}`, and (for routes under a namespace) the namespace exists
    (`operations.policy.admit`)."""
    policy = Policy(role=needed)

    async def dependency(request: Request, ctx: Ctx, who: Caller) -> Principal:
        namespace = request.path_params.get("namespace")
        if namespace is None:
            return who
        await admit(ctx, who, namespace, policy)
        return who

    return dependency


def worker() -> Callable[..., Awaitable[Principal]]:
    """A route dependency: the caller's key may run workers (`operations.policy.check_worker`)."""

    async def dependency(who: Caller) -> Principal:
        check_worker(who)
        return who

    return dependency


def admission(policy: Policy) -> Callable[..., Awaitable[Admitted]]:
    """A route dependency: admit the caller under an operation's `policy` on the route's
    `{namespace}`. A dependency runs before the body is validated, so a key without access gets
    its 403 (or an unknown namespace its 404) whatever the body."""

    async def dependency(request: Request, ctx: Ctx, who: Caller) -> Admitted:
        return await admit(ctx, who, request.path_params["namespace"], policy)

    return dependency
