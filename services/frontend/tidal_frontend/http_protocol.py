"""The HTTP/1.1 protocol the frontend's uvicorn runs: uvicorn's httptools one, except that a
request its parser refuses (a malformed request line or header, answered before any route runs)
gets the API's error shape, a problem document, like every other 4xx."""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .problems import PROBLEM_MEDIA_TYPE, problem_body

__all__ = ["ProblemHttpToolsProtocol"]


class ProblemHttpToolsProtocol(HttpToolsProtocol):
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
