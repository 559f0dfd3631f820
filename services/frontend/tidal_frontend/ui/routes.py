"""Mounting the UI into the frontend's FastAPI app: `/` redirects to `/ui/`, `/ui/` serves files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["STATIC_DIR", "UI_PREFIX", "install"]

UI_PREFIX = "/ui"
STATIC_DIR = Path(__file__).parent / "static"

# The pages load only their own files and talk only to this origin's API; nothing inline, so an
# injected string in a workflow id or payload cannot run script even if it slipped into markup.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETag / Last-Modified make that cheap) so an upgrade is seen at once.
    "Cache-Control": "no-cache",
}


class _UiFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


async def _to_ui() -> RedirectResponse:
    return RedirectResponse(f"{UI_PREFIX}/", status_code=307)


def install(app: FastAPI) -> None:
    app.add_api_route("/", _to_ui, methods=["GET"], include_in_schema=False)
    app.mount(UI_PREFIX, _UiFiles(directory=STATIC_DIR, html=True), name="ui")
