"""The web UI's page preloads every module: one it does not name is only discovered when the
module importing it has loaded, one more round trip on every page load."""

from __future__ import annotations

import re

from tidal_frontend.ui.routes import STATIC_DIR


def test_every_module_is_preloaded_or_the_entry_point() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    entry = set(re.findall(r'<script type="module" src="__VERSION__/([\w.-]+)"', page))
    preloaded = set(re.findall(r'<link rel="modulepreload" href="__VERSION__/([\w.-]+)"', page))
    modules = {p.name for p in STATIC_DIR.glob("*.js")}
    assert entry == {"app.js"}
    assert preloaded | entry == modules, f"not preloaded: {sorted(modules - preloaded - entry)}"
