"""The worker's own errors (re-exported by `tidal.worker`)."""

from __future__ import annotations

from .exceptions import TidalError

__all__ = ["DeadlockError", "WorkerError"]


class DeadlockError(TidalError):
    """Workflow code held its thread longer than the deadlock detection timeout."""


class WorkerError(TidalError):
    """The worker was configured wrongly or could not start."""
