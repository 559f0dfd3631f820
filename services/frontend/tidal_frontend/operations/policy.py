"""What every operation checks before it does anything, whatever transport it came from.

Temporal's frontend does the same in each `workflow_handler.go` method (namespace lookup,
authorisation by the interceptor, the namespace rate limiter) before it calls history; here the
checks are one function, `admit`, and each operation declares which ones apply in its `POLICY`.
HTTP routes and the AMQP command consumer never check policy themselves: they hand the caller
and the request to an operation, which admits it first.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidal_server.apikeys import ALL_NAMESPACES, Role

from ..authn import Principal
from ..context import FrontendContext
from ..problems import Problem

__all__ = ["WORKER_ROLE", "Admitted", "Policy", "admit", "check_role", "check_worker", "forbidden"]


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The checks an operation needs, applied in this order by `admit`."""

    role: Role
    """The caller's key must hold this role on the namespace (a no-op while auth is off)."""
    namespace_must_exist: bool = True
    """The namespace exists (checked after the role, so a key cannot probe namespaces outside its
    scope)."""
    starts_runs: bool = False
    """The operation may create a run: the namespace must not be deprecated, and the
    per-namespace start rate limit applies (one token per request)."""


@dataclass(frozen=True, kw_only=True)
class Admitted:
    """What `admit` hands back: `who` passed `policy` on `namespace`. Operations take one instead
    of a caller, so none can run unadmitted; each checks it was admitted under its own policy.
    (HTTP admits in a route dependency, before the body is parsed, so a request from a key
    without access gets 403 or 404 whatever its body; AMQP admits before it builds the
    request.)"""

    who: Principal
    namespace: str
    policy: Policy

    def namespace_for(self, policy: Policy) -> str:
        """The admitted namespace, for an operation whose policy is `policy`."""
        if policy != self.policy:
            # A programming error in an adapter, not a client error.
            raise RuntimeError(f"admitted under {self.policy}, but the operation needs {policy}")
        return self.namespace


def forbidden(who: Principal, namespace: str, needed: Role) -> Problem:
    scope = "every namespace" if who.namespace == ALL_NAMESPACES else f"namespace {who.namespace!r}"
    return Problem(
        "forbidden",
        f"this API key ({who.role.value} on {scope}) may not do this: it needs {needed.value} "
        f"on namespace {namespace!r}",
    )


def check_role(who: Principal, namespace: str, needed: Role) -> None:
    if not who.grants(namespace, needed):
        raise forbidden(who, namespace, needed)


WORKER_ROLE = Role.WRITER
"""What a key needs to learn the workers' broker URL (`GET /cluster`). That URL carries the worker
broker user, which may publish completions (any history message, docs/security.md) to every
shard: it is a writer's power, so a reader key must not get it."""


def check_worker(who: Principal) -> None:
    """The caller may run workers: it holds `WORKER_ROLE` on its namespace (or on every one)."""
    if not who.role.allows(WORKER_ROLE):
        scope = "every namespace" if who.namespace == ALL_NAMESPACES else f"namespace {who.namespace!r}"
        raise Problem(
            "forbidden",
            f"this API key ({who.role.value} on {scope}) may not run workers, so it does not get "
            f"the workers' broker settings: that needs a {WORKER_ROLE.value} key",
        )


async def admit(ctx: FrontendContext, who: Principal, namespace: str, policy: Policy) -> Admitted:
    """Raise `Problem` (forbidden, namespace_not_found, namespace_deprecated, rate_limited) unless
    `who` may run an operation with `policy` in `namespace` now."""
    check_role(who, namespace, policy.role)
    if policy.starts_runs:
        await ctx.namespaces.require_startable(namespace)
        # Last: a refused request must not spend a token.
        if ctx.start_limiter is not None:
            ctx.start_limiter.check(namespace)
    elif policy.namespace_must_exist:
        await ctx.namespaces.require(namespace)
    return Admitted(who=who, namespace=namespace, policy=policy)
