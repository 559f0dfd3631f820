"""Mounting the UI into the frontend's FastAPI app: `/` redirects to `/ui/`, `/ui/` serves the page.

The page (`index.html`, never cached) names its scripts and stylesheet under `/ui/v/<digest>/`,
where the digest covers every static file: those URLs change whenever any file does, so the
browser may keep them for a year and a reload costs one request. Modules import each other by
relative paths, so they resolve under the same versioned prefix. A request for another digest
(a page loaded before an upgrade) still gets the current file, just not cached.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette._utils import get_route_path
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

__all__ = ["STATIC_DIR", "UI_PREFIX", "install"]

UI_PREFIX = "/ui"
STATIC_DIR = Path(__file__).parent / "static"
_VERSION_MARK = "__VERSION__/"

# The pages load only their own files and talk only to this origin's API; nothing inline, so an
# injected string in a workflow id or payload cannot run script even if it slipped into markup.
_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


def static_digest(directory: Path = STATIC_DIR) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


class _VersionedFiles:
    """`/ui/v/<digest>/<file>`: the current file; cached for good when the digest is current."""

    def __init__(self, digest: str) -> None:
        self._digest = digest
        self._files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        digest, _, rest = get_route_path(scope).lstrip("/").partition("/")
        inner = dict(scope, path="/" + rest, root_path="")
        response = await self._files.get_response(self._files.get_path(inner), inner)
        response.headers.update(_SECURITY)
        ok = 200 <= response.status_code < 400
        response.headers["Cache-Control"] = _IMMUTABLE if ok and digest == self._digest else "no-cache"
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    digest = static_digest()
    page = (STATIC_DIR / "index.html").read_text().replace(_VERSION_MARK, f"v/{digest}/")

    async def to_ui() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=307)

    async def index() -> Response:
        return HTMLResponse(page, headers={**_SECURITY, "Cache-Control": "no-cache"})

    app.add_api_route("/", to_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(UI_PREFIX, to_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{UI_PREFIX}/", index, methods=["GET"], include_in_schema=False)
    app.mount(f"{UI_PREFIX}/v", _VersionedFiles(digest), name="ui")
