"""The web UI: static files (plain ES modules, CSS, one HTML page) served at /ui/ on the API's port.

Everything the pages show comes from the public HTTP API (`/api/v1`), called from the browser with
the user's API key; the server side here only serves files. Why no build step and no framework:
docs/web-ui.md.
"""

from .routes import STATIC_DIR, UI_PREFIX, install

__all__ = ["STATIC_DIR", "UI_PREFIX", "install"]
