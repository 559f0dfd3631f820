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

The young generation's threshold goes from 700 to `YOUNG_THRESHOLD` at the same time. A
started server makes almost no cyclic garbage (history: about 2,700 objects collected in a
600-workflow burst), so every young collection is pure cost, and at 700 the objects of the batch
in progress are still alive at most of them and get walked again in the middle generation. In
history's burst, `gc.callbacks` counted 0.45 CPU-s of collections per run at 700 and 0.24 at
10,000 (docs/performance.md, "History's own CPU per message"); the garbage that waits for a
collection is at most 10,000 container objects.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "freeze_startup_heap"]

YOUNG_THRESHOLD = 10_000

_done = False


def freeze_startup_heap() -> bool:
    """Collect, freeze what is left and raise the young generation's threshold, the first time it
    is called in a process; False (and nothing done) afterwards."""
    global _done
    if _done:
        return False
    _done = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return True
