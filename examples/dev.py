"""`make dev`: the whole engine embedded (in-memory bus + SQLite, nothing to install), the HTTP
API on 127.0.0.1:7243, and a worker for the sample workflow, all in this process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hello import HelloWorkflow, compose_greeting
from tidal.client import Client
from tidal.worker import Worker
from tidal_server.embedded import EmbeddedServer

TASK_QUEUE = "hello"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7243)
    parser.add_argument(
        "--db", default=str(Path.home() / ".tidal" / "dev.sqlite3"), help="SQLite file (kept between runs)"
    )
    parser.add_argument("--once", action="store_true", help="run the sample workflow and exit")
    args = parser.parse_args()

    began = time.monotonic()
    server = EmbeddedServer(database_path=args.db, http_port=args.port)
    await server.start()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server.asgi_app), base_url="http://tidal")
    client = Client(http=http, worker_transport=server.worker_transport)
    try:
        async with Worker(
            client, task_queue=TASK_QUEUE, workflows=[HelloWorkflow], activities=[compose_greeting]
        ):
            wf_id = f"hello-{uuid.uuid4().hex[:8]}"
            result = await client.execute_workflow(
                HelloWorkflow.run, "Tidal", id=wf_id, task_queue=TASK_QUEUE
            )
            print(
                f"\nworkflow {wf_id} returned {result!r} "
                f"({time.monotonic() - began:.1f}s after start-up began)"
            )
            if args.once:
                return
            base = f"http://127.0.0.1:{args.port}/api/v1/namespaces/default/workflows"
            body = (
                f'{{"workflow_id": "hello-2", "workflow_type": "HelloWorkflow", '
                f'"task_queue": "{TASK_QUEUE}", "args": ["you"]}}'
            )
            print(
                f"""
Tidal dev server on http://127.0.0.1:{args.port} (database {args.db}), worker on task queue "{TASK_QUEUE}".
Start more workflows:
  curl -s -X POST {base} -H 'content-type: application/json' \\
       -d '{body}'
  curl -s '{base}/hello-2/result?wait=10'
  curl -s '{base}/hello-2/history'
Web UI: http://127.0.0.1:{args.port}/   API reference: http://127.0.0.1:{args.port}/api/v1/docs
Stop with Ctrl-C.""",
                flush=True,
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
    finally:
        await client.close()
        await server.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
