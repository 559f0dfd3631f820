"""Test environments. `WorkflowEnvironment.start_local()` runs a whole Tidal server in this
process (in-memory bus, SQLite), like temporalio's `start_local()` runs a dev server.

It needs the server packages installed (`tidal-server` and the four services); they are imported
lazily so the SDK itself never depends on server code.
"""

from __future__ import annotations

from typing import Any

import httpx

from .client import Client
from .converter import DataConverter


class WorkflowEnvironment:
    def __init__(self, *, client: Client, server: Any) -> None:
        self.client = client
        self._server = server

    @staticmethod
    async def start_local(
        *,
        namespace: str = "default",
        data_converter: DataConverter = DataConverter.default,
        shard_count: int = 4,
        database_path: str | None = None,
    ) -> WorkflowEnvironment:
        try:
            from tidal_server.embedded import EmbeddedServer
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "WorkflowEnvironment.start_local() needs the Tidal server packages: "
                "`pip install tidal-server tidal-history tidal-matching tidal-timer "
                "tidal-frontend`"
            ) from exc
        server = EmbeddedServer(shard_count=shard_count, database_path=database_path)
        await server.start()
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal.embedded", timeout=90.0
        )
        client = Client(
            http=http,
            namespace=namespace,
            data_converter=data_converter,
            worker_transport=server.worker_transport,
        )
        return WorkflowEnvironment(client=client, server=server)

    @property
    def server(self) -> Any:
        return self._server

    async def shutdown(self) -> None:
        await self.client.close()
        await self._server.stop()

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
