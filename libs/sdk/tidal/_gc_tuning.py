"""Keep the cyclic garbage collector off what a worker process starts with, as the server's
processes do (tidal_server/gc_freeze.py; the SDK cannot import it).

A worker allocates a few thousand short-lived container objects per workflow task (pydantic
models, tasks, futures, frames' dicts), and at CPython's young threshold of 700 it collected the
young generation every few tasks, walking the objects of the tasks in flight, which are all still
alive, and promoting them to be walked again. In a 1,000-workflow burst `gc.callbacks` counted 395
young, 35 middle and 3 full collections in the worker process, 0.365 CPU-s of its 3.12
(docs/performance.md, "... and the worker's collector", session 11). `gc.freeze()` after a
collection puts what is alive then (modules, classes, schemas, the user's own start-up state) in
the permanent generation, which full collections no longer walk; the young threshold becomes
`YOUNG_THRESHOLD`, so that at most that many container objects of cyclic garbage wait for a
collection.

Once per process, at the first worker's start, unless `Worker(freeze_heap=False)`: a test suite
that starts many workers in one process freezes only once. Garbage that is not cyclic is freed by
reference counting as before; only cycles alive at the freeze are kept for good.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "freeze_startup_heap"]

YOUNG_THRESHOLD = 10_000

_done = False


def freeze_startup_heap() -> bool:
    """Collect, freeze what is left and raise the young generation's threshold (never lower it),
    the first time it is called in a process; False (and nothing done) afterwards."""
    global _done
    if _done:
        return False
    _done = True
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
    return True
