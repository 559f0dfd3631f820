"""The worker keeps the collector off what its process starts with (`tidal/_gc_tuning.py`): once
per process, at the first worker's start, unless `freeze_heap=False`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from tidal import workflow
from tidal.worker import Worker


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


def test_the_first_call_in_a_process_freezes_and_raises_the_young_threshold() -> None:
    # In a fresh interpreter: the test process's own collector is not ours to change.
    script = textwrap.dedent(
        """
        import gc
        from tidal._gc_tuning import freeze_startup_heap
        gc.set_threshold(700, 11, 12)
        cycle = []
        cycle.append(cycle)
        first = freeze_startup_heap()
        frozen = gc.get_freeze_count()
        gc.set_threshold(50_000, 11, 12)  # the user's own, higher: a second call keeps it
        print(first, frozen > 0, freeze_startup_heap(), gc.get_threshold())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split(maxsplit=3) == ["True", "True", "False", "(50000, 11, 12)\n"]
    script = textwrap.dedent(
        """
        import gc
        from tidal._gc_tuning import freeze_startup_heap
        gc.set_threshold(20_000, 10, 10)
        freeze_startup_heap()
        print(gc.get_threshold())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(20000, 10, 10)"  # never lowered


class _NoBroker:
    """A client whose worker transport cannot be opened: start() fails right after the freeze."""

    namespace = "default"
    data_converter: Any = None
    _config: Any = {}

    async def _new_worker_transport(self) -> Any:
        raise ConnectionError("no broker")


@pytest.mark.parametrize("freeze", [True, False])
async def test_a_worker_start_freezes_unless_told_not_to(
    freeze: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr("tidal._worker.freeze_startup_heap", lambda: calls.append(1) or True)
    worker = Worker(_NoBroker(), task_queue="q", workflows=[Noop], freeze_heap=freeze)  # type: ignore[arg-type]
    assert worker.config()["freeze_heap"] is freeze
    with pytest.raises(ConnectionError):
        await worker.start()
    assert calls == ([1] if freeze else [])
