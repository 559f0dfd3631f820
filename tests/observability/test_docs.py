"""docs/observability.md lists every metric the code defines."""

from __future__ import annotations

import importlib

from prometheus_client import REGISTRY

from tests.observability import tools

MODULES = (
    "tidal_server.metrics",
    "tidal_frontend.metrics",
    "tidal_history.metrics",
    "tidal_matching.metrics",
    "tidal_timer.metrics",
    "tidal._telemetry",
)


def test_every_metric_is_documented() -> None:
    for module in MODULES:
        importlib.import_module(module)
    doc = (tools.ROOT / "docs" / "observability.md").read_text()
    names = {
        m.name + ("_total" if m.type == "counter" else "")
        for m in REGISTRY.collect()
        if m.name.startswith("tidal_")
    }
    assert len(names) > 30
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"add these to docs/observability.md: {missing}"
