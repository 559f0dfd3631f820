"""The chaos suite's HTTP client: retries like a careful user, and remembers what was acknowledged.

A user of an idempotent API retries a request whose outcome is unknown (connection refused or
cut, 5xx) with the *same* request id until a budget runs out, as the SDK does for `unavailable`
(and temporalio for UNAVAILABLE). The SDK's own client gives up on a cut connection (`internal`)
and makes a new request id per `signal()` call, which would turn a harness retry into a second
signal; so the harness speaks HTTP itself and keeps the id. Only a 2xx counts as acknowledged: a
request that finally failed is counted, never treated as lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Answer", "ApiClient"]

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The final answer to one logical request (after retries)."""

    acked: bool
    status: int | None
    body: dict[str, Any]
    attempts: int
    error: str = ""


def _payloads(values: list[Any]) -> list[dict[str, Any]]:
    # json/plain keeps the JSON value itself in `data` (tidal_schema.Payload).
    return [{"metadata": {"encoding": "json/plain"}, "data": v} for v in values]


@dataclass
class ApiClient:
    address: str
    retry_seconds: float = 90.0
    namespace: str = "default"
    max_connections: int = 1000
    retries: Counter[str] = field(default_factory=Counter)
    _http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> ApiClient:
        self._http = httpx.AsyncClient(
            base_url=self.address,
            # A connection per concurrent workflow: a pool wait must never eat the retry budget
            # (it did, as PoolTimeout, in a 1,000-workflow run while history was down).
            timeout=httpx.Timeout(60.0, connect=10.0, pool=None),
            limits=httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=100),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    def _wf(self, workflow_id: str = "", suffix: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/workflows"
        return f"{base}/{workflow_id}{suffix}" if workflow_id else base

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int | None, dict[str, Any], int, str]:
        """POST with retries; returns (status, json body, attempts, last error)."""
        return await self._send("POST", path, body=body)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int | None, dict[str, Any], int, str]:
        assert self._http is not None
        deadline = time.monotonic() + self.retry_seconds
        delay, attempts, error = 0.1, 0, ""
        while True:
            attempts += 1
            status: int | None = None
            data: dict[str, Any] = {}
            try:
                resp = await self._http.request(method, path, json=body, params=params)
                status = resp.status_code
                try:
                    data = resp.json() if resp.content else {}
                except ValueError:
                    data = {"detail": resp.text[:200]}
                if status not in _RETRYABLE_STATUS:
                    return status, data, attempts, ""
                error = f"{status} {data.get('code', '')}: {str(data.get('detail', ''))[:120]}"
                self.retries[f"http {status}"] += 1
            except httpx.TransportError as exc:
                error = f"{type(exc).__name__}: {exc}"[:160]
                self.retries[type(exc).__name__] += 1
            if time.monotonic() + delay > deadline:
                return status, data, attempts, error
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def start(
        self, workflow_id: str, workflow_type: str, args: list[Any], *, request_id: str
    ) -> Answer:
        body = {
            "workflow_id": workflow_id,
            "workflow_type": workflow_type,
            "task_queue": "chaos",
            "input": _payloads(args),
            "request_id": request_id,
        }
        status, data, attempts, error = await self._post(self._wf(), body)
        if status in (200, 201):
            return Answer(acked=True, status=status, body=data, attempts=attempts)
        if status == 409 and attempts > 1:
            # An earlier attempt started it and its answer was lost; the run is ours.
            return Answer(acked=True, status=status, body=data, attempts=attempts)
        return Answer(
            acked=False, status=status, body=data, attempts=attempts, error=error or str(data)[:200]
        )

    async def signal(self, workflow_id: str, name: str, args: list[Any], *, request_id: str) -> Answer:
        body = {"signal_name": name, "input": _payloads(args), "request_id": request_id}
        status, data, attempts, error = await self._post(self._wf(workflow_id, "/signal"), body)
        ok = status is not None and 200 <= status < 300
        return Answer(
            acked=ok,
            status=status,
            body=data,
            attempts=attempts,
            error="" if ok else error or str(data)[:200],
        )

    async def update(self, workflow_id: str, name: str, args: list[Any], *, update_id: str) -> Answer:
        body = {
            "name": name,
            "update_id": update_id,
            "input": _payloads(args),
            "wait_for_stage": "completed",
            "wait": 20.0,
        }
        deadline = time.monotonic() + self.retry_seconds
        attempts = 0
        while True:
            status, data, n, error = await self._post(self._wf(workflow_id, "/update"), body)
            attempts += n
            if status == 200 and data.get("stage") == "completed" and not data.get("rejected"):
                return Answer(acked=True, status=status, body=data, attempts=attempts)
            if status == 200 and data.get("stage") != "completed" and time.monotonic() < deadline:
                continue  # accepted but not completed within the wait: wait again, same id
            return Answer(
                acked=False, status=status, body=data, attempts=attempts, error=error or str(data)[:200]
            )

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Answer:
        """Any request under the namespace (`/schedules/...`), retried like the others; 2xx is
        acknowledged."""
        full = f"/api/v1/namespaces/{self.namespace}{path}"
        status, data, attempts, error = await self._send(method, full, body=body, params=params)
        ok = status is not None and 200 <= status < 300
        return Answer(
            acked=ok,
            status=status,
            body=data,
            attempts=attempts,
            error="" if ok else error or str(data)[:200],
        )
