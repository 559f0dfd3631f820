"""Keep the cyclic garbage collector off the objects a server process starts with.

CPython's full (generation 2) collection walks every tracked object, and a started Tidal process
holds about 185,000 of them before it runs a single workflow: modules, functions, classes,
pydantic's and SQLAlchemy's schemas. None of them ever becomes garbage, yet each full collection
walked them all again: in the embedded mode's burst, 4 full collections per 600 workflows took
about 0.2 CPU-s each, a seventh of the process's CPU, and each paused the one event loop
(timers, every hop) for as long (docs/performance.md, "Embedded mode").

`gc.freeze()` moves every object alive at that moment into a permanent generation the collector
no longer visits. Whatever is frozen is never collected, so a collection runs first (the frozen
heap then holds no garbage), and only once per process: a test suite that starts many embedded
servers in one process must not freeze each previous server's leftovers.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]

_done = False


def freeze_startup_heap() -> bool:
    """Collect, then freeze what is left, the first time it is called in a process; False (and
    nothing done) afterwards."""
    global _done
    if _done:
        return False
    _done = True
    gc.collect()
    gc.freeze()
    return True
