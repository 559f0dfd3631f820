"""The HTTP/1.1 protocol the frontend's uvicorn runs: uvicorn's httptools one, except that

- a request its parser refuses (a malformed request line or header, answered before any route
  runs) gets the API's error shape, a problem document, like every other 4xx;
- a response's head goes out with its body in one write (`OneWriteTransport`): uvicorn writes
  the status line and headers when the app sends `http.response.start` and the body when it
  sends `http.response.body`, two sends and two TCP segments for every answer, though the routes
  (the fast path's start and result among them) send both in the same loop turn.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .problems import PROBLEM_MEDIA_TYPE, problem_body

__all__ = ["OneWriteTransport", "ProblemHttpToolsProtocol"]


class OneWriteTransport:
    """A request cycle's view of the connection's transport: its first write (the status line and
    headers, or a 100 Continue) is held until the cycle's next write, which takes it along in one
    write, or the end of the loop turn. So a response whose head and body are sent in one turn is
    one `send`. Only the first write waits, so a response is complete (uvicorn's
    `response_complete`, after which the protocol may close the connection) only once all of it
    is with the transport. Everything else is the transport's."""

    __slots__ = ("_first", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._first = True
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._first:
            self._first = False
            self._held = bytes(data)
            asyncio.get_running_loop().call_soon(self.flush)
            return
        if self._held is not None:
            data, self._held = self._held + bytes(data), None
        self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():  # the client left: dropped
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # The cycle just made for this request (its task has not run yet) writes through it.
        cycle = self.cycle
        if cycle is not None and not isinstance(cycle.transport, OneWriteTransport):
            cycle.transport = OneWriteTransport(cycle.transport)  # type: ignore[assignment]

    def send_400_response(self, msg: str) -> None:
        problem = problem_body("invalid_argument", f"the HTTP request cannot be parsed: {msg}")
        body = json.dumps(problem).encode()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
