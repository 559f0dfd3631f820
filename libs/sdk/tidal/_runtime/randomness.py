"""The run's randomness (`workflow.random()`, `random_seed()`, `uuid4()`...): seeded from the run
id, so a replay draws the same numbers."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

__all__ = ["RunRandomness"]


class RunRandomness:
    def __init__(self, run_id: str) -> None:
        # Seeded from the run id (str seeds hash with sha512, stable across processes).
        self.random = random.Random(run_id)
        # The same seed as an int (what `random.Random(str)` computes), for `workflow.random_seed()`:
        # `random.Random(seed)` draws what `workflow.random()` draws.
        raw = run_id.encode()
        self.seed = int.from_bytes(raw + hashlib.sha512(raw).digest())
        # Never called: Temporal reseeds on a workflow reset, which Tidal does not have.
        self.seed_callbacks: list[Callable[[int], None]] = []
