"""Supervised loops: a crashed loop is counted, reported down, restarted with backoff; a loop with
an exit handler is handed to it; a handler that fails marks the process failed, and the host then
stops its services and raises (the CLI exits non-zero). /readyz of the ops server follows."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from tidal_server import cli, host
from tidal_server.ops_http import OpsServer
from tidal_server.service import Runtime
from tidal_server.settings import CommonSettings
from tidal_server.supervision import Backoff, Health, Supervisor

from tests.support.stack import wait_for

FAST = Backoff(initial=0.01, maximum=0.05)


def _sample(name: str, service: str, loop: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service, "loop": loop}) or 0.0


async def test_a_crashing_loop_is_restarted_with_backoff_and_counted() -> None:
    health = Health()
    sup = Supervisor(service="svc-a", health=health, backoff=FAST)
    runs: list[int] = []
    gate = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise RuntimeError(f"crash {len(runs)}")
        await gate.wait()

    s = sup.spawn("worker", loop)
    try:
        await wait_for(lambda: len(runs) == 3, timeout=10, what="two restarts")
        assert s.running and s.crashes == 2
        assert _sample("tidal_loop_crashes_total", "svc-a", "worker") == 2
        assert _sample("tidal_loop_restarts_total", "svc-a", "worker") == 2
        assert health.ready()
        assert REGISTRY.get_sample_value("tidal_loops_down", {"service": "svc-a"}) == 0
    finally:
        await sup.stop()
    assert not s.running
    assert _sample("tidal_loop_crashes_total", "svc-a", "worker") == 2  # a stop is not a crash


async def test_a_loop_is_reported_down_until_it_restarts() -> None:
    health = Health()
    sup = Supervisor(service="svc-b", health=health, backoff=Backoff(initial=30))

    async def loop() -> None:
        raise ValueError("broken")

    sup.spawn("poller", loop, key=3)
    try:
        await wait_for(lambda: not health.ready(), timeout=10, what="the loop reported down")
        assert health.problems() == {"svc-b.poller[3]": "ValueError: broken"}
        assert REGISTRY.get_sample_value("tidal_loops_down", {"service": "svc-b"}) == 1
    finally:
        await sup.stop()
    assert health.ready()


async def test_an_exit_handler_takes_over_and_its_failure_is_fatal() -> None:
    health = Health()
    sup = Supervisor(service="svc-c", health=health, backoff=FAST)
    handled: list[BaseException | None] = []

    async def crash() -> None:
        raise RuntimeError("shard loop bug")

    async def release(exc: BaseException | None) -> None:
        handled.append(exc)

    sup.spawn("shard", crash, key=1, on_exit=release)
    await wait_for(lambda: bool(handled), timeout=10, what="the exit handler")
    assert isinstance(handled[0], RuntimeError)
    await wait_for(health.ready, timeout=10, what="ready once released")
    assert _sample("tidal_loop_restarts_total", "svc-c", "shard") == 1

    async def cannot_release(exc: BaseException | None) -> None:
        raise OSError("consumer cancel failed")

    sup.spawn("shard", crash, key=2, on_exit=cannot_release)
    await asyncio.wait_for(health.failed.wait(), 10)
    assert health.fatal_reason is not None and "could not be released" in health.fatal_reason
    assert not health.ready()
    await sup.stop()


@dataclass
class _Crashy:
    runtime: Runtime
    stopped: list[str]
    name: str = "crashy"

    async def start(self) -> None:
        sup = self.runtime.supervisor(self.name)

        async def loop() -> None:
            raise RuntimeError("dead")

        async def cannot(exc: BaseException | None) -> None:
            raise RuntimeError("no way back")

        sup.spawn("loop", loop, on_exit=cannot)

    async def stop(self) -> None:
        self.stopped.append(self.name)


@dataclass
class _EntryPoint:
    name: str
    factory: Any
    value: str = "tests:crashy"
    dist: None = None

    def load(self) -> Any:
        return self.factory


async def test_the_host_stops_and_raises_after_a_fatal_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[str] = []
    eps = {"crashy": _EntryPoint("crashy", lambda rt: _Crashy(rt, stopped))}
    monkeypatch.setattr(host, "discover_services", lambda: eps)
    settings = CommonSettings(database_url="sqlite+aiosqlite:///:memory:", member_id="m")
    async with host.open_runtime(settings, embedded=True) as runtime:
        with pytest.raises(host.ProcessFailedError, match="no way back"):
            await asyncio.wait_for(host.run_services(["crashy"], runtime=runtime, stop=asyncio.Event()), 20)
    assert stopped == ["crashy"]


async def test_readyz_answers_503_with_the_loops_that_are_down() -> None:
    health = Health()
    ops = OpsServer(host="127.0.0.1", port=0, ready=health.ready, problems=health.problems)
    await ops.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops.port}") as http:
            assert (await http.get("/readyz")).status_code == 200
            health.mark_down("history.shard[4]", "RuntimeError: boom")
            r = await http.get("/readyz")
            assert r.status_code == 503 and "history.shard[4]: RuntimeError: boom" in r.text
            health.mark_up("history.shard[4]")
            assert (await http.get("/readyz")).status_code == 200
    finally:
        await ops.stop()


@dataclass
class _Quiet:
    runtime: Runtime
    stopped: list[str]
    name: str = "quiet"

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped.append(self.name)


def test_the_cli_exits_1_after_a_fatal_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped: list[str] = []

    async def sample(runtime: Runtime) -> None:
        runtime.health.fail("history.shard[3] could not be released")

    monkeypatch.setattr(cli, "_load_sample", lambda: sample)
    monkeypatch.setattr(
        host, "discover_services", lambda: {"quiet": _EntryPoint("quiet", lambda rt: _Quiet(rt, stopped))}
    )
    monkeypatch.setattr(host, "use_uvloop", lambda: False)
    try:
        code = cli.main(["dev", "--db", str(tmp_path / "dev.sqlite3"), "--http-port", "0", "--with-sample"])
    finally:
        logging.getLogger().handlers.clear()
    assert code == 1 and stopped == ["quiet"]
    assert "fatal failure: history.shard[3] could not be released" in capsys.readouterr().err
