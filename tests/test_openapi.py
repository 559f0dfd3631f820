"""The OpenAPI document: docs/openapi.json is what the server serves, and schemathesis, driven
by it against the embedded server's ASGI app (in process), finds no 5xx and no response that
breaks the document (status codes, content types, bodies)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import generate_openapi  # noqa: E402

# Examples per operation and mode: 3 in CI (CI=true, as `.ci/run` sets; 34-44 s instead of 67 s on 2
# cores: about 0.3 s per strategy is overhead whatever the count), 10 by default, 50 in
# `make conformance`; TIDAL_SCHEMATHESIS_EXAMPLES sets any number.
MAX_EXAMPLES = int(
    os.environ.get("TIDAL_SCHEMATHESIS_EXAMPLES", "3" if os.environ.get("CI", "").lower() == "true" else "10")
)


def test_committed_document_is_up_to_date() -> None:
    assert generate_openapi.TARGET.read_text() == generate_openapi.render(
        generate_openapi.openapi_document()
    ), "docs/openapi.json is out of date: run `uv run python scripts/generate_openapi.py`"


class _LoopBridge:
    """An ASGI app that runs `app` on the server's event loop (its own thread), so a caller on
    another loop (schemathesis' test client) can call the embedded server in process."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._app = app
        self._loop = loop

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        caller = asyncio.get_running_loop()

        async def recv() -> Any:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(receive(), caller))

        async def snd(message: Any) -> None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(send(message), caller))

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._app(scope, recv, snd), self._loop))


@pytest.fixture(scope="module")
def embedded_app() -> Iterator[Any]:
    """The embedded server on a loop of its own thread; short timeouts so that a request that
    waits (a query no worker answers, a long poll) ends quickly."""
    from tidal_server.embedded import EmbeddedServer

    started: Future[tuple[asyncio.AbstractEventLoop, Any]] = Future()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        server = EmbeddedServer()
        await server.start()
        started.set_result((asyncio.get_running_loop(), server.asgi_app))
        await stop.wait()
        await server.stop()

    env = {"TIDAL_REQUEST_TIMEOUT_SECONDS": "1", "TIDAL_LONG_POLL_MAX_SECONDS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="embedded-server", daemon=True)
    thread.start()
    try:
        loop, app = started.result(timeout=60)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield _LoopBridge(app, loop)
    assert stop is not None
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)


def _check(case: Any, seen: Counter[int]) -> None:
    response = case.call()
    status = response.status_code
    seen[status] += 1
    # The one documented 5xx that valid input can reach: a query no worker answers (504).
    if status >= 500:
        body = json.loads(response.content or b"{}")
        assert status == 504 and body.get("code") == "deadline_exceeded", (
            f"{case.method} {case.formatted_path} -> {status}: {response.text[:500]}"
        )
    case.validate_response(
        response,
        checks=(status_code_conformance, content_type_conformance, response_schema_conformance),
    )


def test_api_conforms_to_its_document(embedded_app: Any) -> None:
    # Driven by hand rather than by schemathesis' pytest plugin (which does not support pytest 9).
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", embedded_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    seen: Counter[int] = Counter()
    strategies = []
    for operation in operations:
        strategies.append((operation.as_strategy(), False))
        strategies.append((operation.as_strategy(GenerationMode.NEGATIVE), True))
        if "{namespace}" in operation.path:
            # Random namespaces mostly answer 404: also aim at one that exists.
            strategies.append((operation.as_strategy(path_parameters={"namespace": "default"}), False))
    for strategy, negative in strategies:

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            # No shrinking: a failure is reported as found, keeping the run bounded.
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: Any) -> None:
            _check(case, seen)

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid input to generate.
            assert negative
    # It really exercised the server: successes and refusals both.
    assert sum(seen.values()) >= len(operations) * 2, seen
    assert any(200 <= s < 300 for s in seen) and 400 in seen and 404 in seen, seen
