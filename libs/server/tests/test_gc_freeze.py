"""The embedded server keeps the garbage collector off the heap it starts with, once per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tidal_server.gc_freeze import YOUNG_THRESHOLD

_SCRIPT = textwrap.dedent(
    """
    import asyncio, gc
    from tidal_server.embedded import EmbeddedServer

    async def main(freeze: bool) -> None:
        counts = [gc.get_freeze_count()]
        for _ in range(2):
            server = EmbeddedServer(freeze_heap=freeze)
            await server.start()
            counts.append(gc.get_freeze_count())
            await server.stop()
        print(*counts, gc.get_threshold()[0])

    asyncio.run(main({freeze}))
    """
)


def _freeze_counts(freeze: bool) -> list[int]:
    # A process of its own: freezing is once per process, and this one's heap is pytest's.
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(freeze=freeze)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [int(n) for n in out.stdout.split()]


def test_the_first_start_freezes_the_heap_and_later_starts_do_not() -> None:
    before, first, second, young = _freeze_counts(True)
    assert before == 0
    # Every module, class and function the services imported: well over 50,000 objects.
    assert first > 50_000
    # A second server in the same process freezes nothing more (its predecessor's leftovers
    # would never be collected); frozen objects freed by their reference count leave it.
    assert second <= first
    # The young generation's threshold is raised with the freeze (gc_freeze.py says why).
    assert young == YOUNG_THRESHOLD


def test_freeze_heap_false_leaves_the_collector_alone() -> None:
    assert _freeze_counts(False) == [0, 0, 0, 700]
