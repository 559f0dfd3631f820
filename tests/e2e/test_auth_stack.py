"""Namespaces and API keys on the real stack (each service its own process, RabbitMQ, Postgres)
with auth on; the bootstrap admin key is created by `tidal-server api-key create` on Postgres."""

from __future__ import annotations

import httpx
from tidal.client import Client

from tests.e2e import scenarios_auth
from tests.support.stack import SERVICES, Stack, create_admin_key


async def test_key_for_namespace_a_cannot_touch_namespace_b_on_the_stack(stack: Stack) -> None:
    admin = await create_admin_key(stack)
    for name in SERVICES:
        stack.start(name, TIDAL_AUTH_ENABLED="true")
    await stack.wait_ready()

    async def connect(namespace: str, api_key: str | None) -> Client:
        return await Client.connect(stack.address, namespace=namespace, api_key=api_key, rpc_retry_seconds=5)

    async with httpx.AsyncClient(base_url=stack.address) as http:
        await scenarios_auth.key_for_namespace_a_cannot_touch_b(connect, http, admin)
