"""GET /api/v1/whoami: what the caller's API key grants (the web UI hides what it may not do).

With auth off every caller is an admin of every namespace (`namespace` "*"), and the answer says
so with `auth_enabled: false`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from tidal_server.apikeys import Role

from ..auth import Caller
from ..context import Ctx

__all__ = ["WhoAmI", "whoami"]


class WhoAmI(BaseModel):
    auth_enabled: bool
    key_id: str | None = Field(description="null for the bootstrap key, or when auth is off")
    namespace: str = Field(description='the namespace the key is for; "*" for every namespace')
    role: Role


async def whoami(ctx: Ctx, who: Caller) -> WhoAmI:
    return WhoAmI(auth_enabled=ctx.auth.enabled, key_id=who.key_id, namespace=who.namespace, role=who.role)
