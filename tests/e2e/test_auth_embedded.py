"""Namespaces and API keys on the embedded server with auth on (`TIDAL_AUTH_ENABLED=true`); the
first admin key comes from `tidal-server api-key create`, as an operator bootstraps it."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tidal.client import Client
from tidal_server.embedded import EmbeddedServer

from tests.e2e import scenarios_auth
from tests.support.stack import free_port


@dataclass
class AuthServer:
    server: EmbeddedServer
    admin_key: str
    address: str


async def _run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def auth_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AuthServer]:
    monkeypatch.setenv("TIDAL_AUTH_ENABLED", "true")
    db = tmp_path / "tidal.sqlite3"
    server = EmbeddedServer(database_path=str(db), http_port=free_port())
    await server.start()
    try:
        code, out, err = await _run(
            "-m", "tidal_server.cli", "api-key", "create", "--namespace", "*", "--role", "admin",
            "--database-url", server.database_url, "--output", "json",
        )  # fmt: skip
        assert code == 0, err
        created = json.loads(out)
        assert created["role"] == "admin" and created["namespace"] == "*"
        yield AuthServer(
            server=server, admin_key=created["key"], address=f"http://127.0.0.1:{server.http_port}"
        )
    finally:
        await server.stop()


async def test_key_for_namespace_a_cannot_touch_namespace_b(auth_server: AuthServer) -> None:
    server = auth_server.server

    async def connect(namespace: str, api_key: str | None) -> Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal", headers=headers
        )
        return Client(
            http=http, namespace=namespace, worker_transport=server.worker_transport, rpc_retry_seconds=5
        )

    transport = httpx.ASGITransport(app=server.asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tidal") as http:
        await scenarios_auth.key_for_namespace_a_cannot_touch_b(connect, http, auth_server.admin_key)


async def test_sdk_connect_with_api_key_over_http(auth_server: AuthServer) -> None:
    """`Client.connect(..., api_key=)` sends the key; without it the server answers 401."""
    client = await Client.connect(auth_server.address, api_key=auth_server.admin_key)
    try:
        with pytest.raises(Exception) as info:
            await client.get_workflow_handle("nothing-here").describe()
        assert getattr(info.value, "status", None) == "not_found"
    finally:
        await client.close()
    anonymous = await Client.connect(auth_server.address, rpc_retry_seconds=1)
    try:
        with pytest.raises(Exception) as info:
            await anonymous.get_workflow_handle("nothing-here").describe()
        assert getattr(info.value, "status", None) == "unauthenticated"
    finally:
        await anonymous.close()


async def test_cli_namespaces_and_api_key(auth_server: AuthServer) -> None:
    address, admin = auth_server.address, auth_server.admin_key
    tidal = ("-m", "tidal.cli", "--address", address)
    code, out, err = await _run(*tidal, "--api-key", admin, "namespace", "create", "--name", "cli-a",
                                "--retention-days", "7", "--description", "from the CLI")  # fmt: skip
    assert code == 0, err
    assert "cli-a" in out and "registered" in out
    env = {**_env(), "TIDAL_API_KEY": admin}
    code, out, err = await _run(*tidal, "--output", "json", "namespace", "list", env=env)
    assert code == 0, err
    assert {n["name"] for n in json.loads(out)} == {"default", "cli-a"}
    code, out, err = await _run(
        *tidal, "namespace", "update", "--name", "cli-a", "--retention-days", "2", env=env
    )
    assert code == 0 and "2" in out, err
    code, out, err = await _run(
        *tidal, "--namespace", "cli-a", "--output", "json", "namespace", "describe", env=env
    )
    assert code == 0 and json.loads(out)["retention_days"] == 2, err
    # A writer key of cli-a, through the CLI, is refused in default (403) and without a key 401.
    http = httpx.AsyncClient(base_url=address, headers={"Authorization": f"Bearer {admin}"})
    async with http:
        r = await http.post("/api/v1/api-keys", json={"namespace": "cli-a", "role": "writer"})
        writer = r.json()["key"]
    code, _, err = await _run(*tidal, "--api-key", writer, "workflow", "describe", "--id", "x")
    assert code == 1 and "forbidden" in err and "Traceback" not in err
    code, _, err = await _run(*tidal, "--api-key", writer, "--namespace", "default", "workflow", "start",
                              "--type", "GreetingWorkflow", "--task-queue", "q", "--id", "x")  # fmt: skip
    assert code == 1 and "forbidden" in err
    code, _, err = await _run(*tidal, "--namespace", "cli-a", "workflow", "describe", "--id", "x", env=_env())
    assert code == 1 and "unauthenticated" in err
    code, _, err = await _run(
        *tidal, "--api-key", writer, "--namespace", "cli-a", "workflow", "describe", "--id", "x"
    )
    assert code == 1 and "not_found" in err
    code, _, err = await _run(*tidal, "--api-key", writer, "namespace", "create", "--name", "cli-b")
    assert code == 1 and "forbidden" in err


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "TIDAL_API_KEY"}


async def test_server_cli_refuses_an_unknown_namespace(auth_server: AuthServer) -> None:
    db = auth_server.server.database_url
    create = ("-m", "tidal_server.cli", "api-key", "create", "--database-url", db)
    code, _, err = await _run(*create, "--namespace", "nope", "--role", "reader")
    assert code == 1 and "namespace 'nope' does not exist" in err and "Traceback" not in err
    code, out, err = await _run(*create, "--namespace", "default", "--role", "reader")
    assert code == 0, err
    assert "shown only this once" in out and out.strip().splitlines()[-1].startswith("tidal_")
