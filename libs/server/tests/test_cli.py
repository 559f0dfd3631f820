"""`tidal-server` as users run it (real subprocesses), and the host with a tiny fake service.

The host tests use real SQLite/Postgres/RabbitMQ edges; only service *discovery* is replaced
(service packages' app.py are tested by their own packages).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tidal_server import cli, host
from tidal_server.bus import InMemoryBus
from tidal_server.db import SchemaNotMigratedError, create_engine, migrate, namespaces
from tidal_server.logging import configure_logging
from tidal_server.service import Runtime, Service
from tidal_server.settings import CommonSettings
from tidal_server.supervision import Health

REPO = Path(__file__).resolve().parents[3]
TABLES = {
    "namespaces",
    "shards",
    "members",
    "executions",
    "current_executions",
    "history_events",
    "timers",
    "outbox",
    "schedules",
}


def tidal_server(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", "run", "--no-sync", "tidal-server", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- subprocess CLI


def test_help() -> None:
    result = tidal_server("--help")
    assert result.returncode == 0, result.stderr
    for command in ("migrate", "run", "dev", "services"):
        assert command in result.stdout
    result = tidal_server("dev", "--help")
    assert "--with-sample" in result.stdout and "7243" in result.stdout


async def test_migrate_postgres(fresh_database_url: str) -> None:
    result = await asyncio.to_thread(tidal_server, "migrate", "--database-url", fresh_database_url)
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout
    assert TABLES <= await table_names(fresh_database_url)
    # Idempotent; and the URL can come from the environment instead.
    result = await asyncio.to_thread(tidal_server, "migrate", env={"TIDAL_DATABASE_URL": fresh_database_url})
    assert result.returncode == 0, result.stderr


async def test_migrate_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'tidal.sqlite3'}"
    result = await asyncio.to_thread(tidal_server, "migrate", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert TABLES <= await table_names(url)


def test_the_process_exits_without_finalisation_after_flushing() -> None:
    """A stopped service's process leaves at once (the final collection of its heap cost 4-6 s per
    SIGTERM, and test stacks restart hundreds of times a CI run), but only after what it printed
    and logged is out, and with main's exit status."""
    probe = (
        "import atexit, logging, sys\n"
        "atexit.register(lambda: print('finalised'))\n"
        "logging.basicConfig(stream=sys.stderr)\n"
        "logging.getLogger('probe').warning('logged before exit')\n"
        "from tidal_server.cli import program\n"
        "program(sys.argv[1:])\n"
    )
    for args, code, out in ((["services"], 0, "history"), (["run", "no-such-service"], 1, "")):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == code, result.stderr
        assert "finalised" not in result.stdout
        assert out in result.stdout and "logged before exit" in result.stderr


def test_unreachable_database_is_one_clear_line() -> None:
    result = tidal_server("migrate", "--database-url", "postgresql+asyncpg://tidal:hunter2@127.0.0.1:1/tidal")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("tidal-server: error:")]
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0], result.stderr


def test_unknown_service_is_one_clear_line() -> None:
    result = tidal_server("run", "no-such-service")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "unknown service(s) no-such-service; available:" in result.stderr


def test_services_lists_installed_services() -> None:
    installed = {ep.name for ep in importlib.metadata.entry_points(group=host.ENTRY_POINT_GROUP)}
    if not installed:
        pytest.skip("no tidal.services entry points installed yet (run `uv sync`)")
    result = tidal_server("services")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert listed == installed
    expected = {"frontend", "history", "matching", "timer"}
    if not expected <= installed:
        pytest.skip(f"not all four services are declared yet: {sorted(installed)}")


# --------------------------------------------------------------------------- fake services


@dataclass
class Journal:
    events: list[str] = field(default_factory=list)
    runtimes: list[Runtime] = field(default_factory=list)


@dataclass
class FakeService:
    name: str
    runtime: Runtime
    journal: Journal
    fail_start: bool = False

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        # Prove the runtime's engine is usable (and migrated, in embedded mode).
        async with self.runtime.engine.connect() as conn:
            await conn.execute(sa.select(namespaces.c.name))
        self.journal.events.append(f"start:{self.name}")

    async def stop(self) -> None:
        self.journal.events.append(f"stop:{self.name}")


@dataclass
class FakeEntryPoint:
    name: str
    factory: Any
    value: str = "tests:fake"
    dist: None = None

    def load(self) -> Any:
        return self.factory


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    journal = Journal()

    def factory(name: str, **kw: Any) -> Any:
        def build(runtime: Runtime) -> Service:
            journal.runtimes.append(runtime)
            return FakeService(name, runtime, journal, **kw)

        return build

    eps = {n: FakeEntryPoint(n, factory(n)) for n in ("frontend", "history", "matching", "timer")}
    eps["broken"] = FakeEntryPoint("broken", factory("broken", fail_start=True))
    monkeypatch.setattr(host, "discover_services", lambda: eps)
    yield journal


def embedded_settings(url: str = "sqlite+aiosqlite:///:memory:") -> CommonSettings:
    return CommonSettings(database_url=url, member_id="test-member")


async def test_run_services_starts_in_order_and_stops_in_reverse(journal: Journal) -> None:
    stop, started = asyncio.Event(), asyncio.Event()
    async with host.open_runtime(embedded_settings(), embedded=True) as runtime:
        assert isinstance(runtime.bus, InMemoryBus) and runtime.embedded
        assert runtime.member_id == "test-member"
        names = host.ordered(["frontend", "timer", "history", "matching"])
        task = asyncio.create_task(host.run_services(names, runtime=runtime, stop=stop, started=started))
        await asyncio.wait_for(started.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert journal.events == [
        "start:history",
        "start:matching",
        "start:timer",
        "start:frontend",
        "stop:frontend",
        "stop:timer",
        "stop:matching",
        "stop:history",
    ]


async def test_failed_start_stops_the_started_ones(journal: Journal) -> None:
    async with host.open_runtime(embedded_settings(), embedded=True) as runtime:
        with pytest.raises(host.ServiceStartError, match="'broken' failed to start: broken cannot start"):
            await host.run_services(["history", "broken", "timer"], runtime=runtime, stop=asyncio.Event())
    assert journal.events == ["start:history", "stop:history"]


async def test_unknown_service(journal: Journal) -> None:
    with pytest.raises(host.UnknownServiceError, match="available: broken, frontend"):
        host.load_factories(["history", "nope"])


async def test_production_runtime_requires_migrated_schema(fresh_database_url: str) -> None:
    settings = CommonSettings(database_url=fresh_database_url, amqp_url="amqp://guest:guest@127.0.0.1:1")
    with pytest.raises(SchemaNotMigratedError, match="tidal-server migrate"):
        async with host.open_runtime(settings, embedded=False):
            pass


async def test_production_runtime_unreachable_broker(fresh_database_url: str) -> None:
    await migrate(fresh_database_url)
    settings = CommonSettings(database_url=fresh_database_url, amqp_url="amqp://guest:s3cret@127.0.0.1:1")
    with pytest.raises(host.BusUnavailableError, match=r"127\.0\.0\.1:1") as info:
        async with host.open_runtime(settings, embedded=False):
            pass
    assert "s3cret" not in str(info.value)


async def test_production_runtime_with_real_broker(
    journal: Journal, fresh_database_url: str, fresh_vhost_amqp_url: str
) -> None:
    await migrate(fresh_database_url)
    settings = CommonSettings(database_url=fresh_database_url, amqp_url=fresh_vhost_amqp_url)
    stop, started = asyncio.Event(), asyncio.Event()
    async with host.open_runtime(settings, embedded=False) as runtime:
        assert not runtime.embedded and runtime.member_id
        task = asyncio.create_task(
            host.run_services(["history"], runtime=runtime, stop=stop, started=started)
        )
        await asyncio.wait_for(started.wait(), 10)
        stop.set()
        await task
    assert journal.events == ["start:history", "stop:history"]


def test_dev_command_runs_everything_until_signalled(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process (the subprocess cannot see the fake services). The "sample" plays the user:
    # it checks the runtime and presses Ctrl-C, which the host turns into an orderly stop.
    seen: list[Runtime] = []

    async def sample(runtime: Runtime) -> None:
        seen.append(runtime)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli, "_load_sample", lambda: sample)
    # The heap is frozen once every service has started (not this test session's: recorded).
    frozen_after: list[list[str]] = []
    monkeypatch.setattr(cli, "freeze_startup_heap", lambda: frozen_after.append(list(journal.events)))
    fakes = {n: ep for n, ep in host.discover_services().items() if n != "broken"}
    monkeypatch.setattr(host, "discover_services", lambda: fakes)
    monkeypatch.setattr(host, "use_uvloop", lambda: False)  # leave the test session's loop policy alone
    db = tmp_path / "dev" / "dev.sqlite3"
    try:
        code = cli.main(["dev", "--db", str(db), "--http-port", "7999", "--with-sample"])
    finally:
        logging.getLogger().handlers.clear()
    assert code == 0
    assert seen[0].settings_overrides("frontend") == {"http_port": 7999}
    assert db.exists() and seen and seen[0].embedded
    assert journal.events[:4] == ["start:history", "start:matching", "start:timer", "start:frontend"]
    assert journal.events[4:] == ["stop:frontend", "stop:timer", "stop:matching", "stop:history"]
    assert frozen_after == [journal.events[:4]]
    assert "http://127.0.0.1:7999" in capsys.readouterr().out


def test_run_command_refuses_unmigrated_database(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIDAL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setattr(host, "use_uvloop", lambda: False)
    try:
        code = cli.main(["run", "history"])
    finally:
        logging.getLogger().handlers.clear()
    assert code == 1
    err = capsys.readouterr().err
    assert "has no Tidal schema" in err and "tidal-server migrate" in err
    assert journal.events == []


# --------------------------------------------------------------------------- logging


def test_json_log_lines_carry_extras() -> None:
    stream = io.StringIO()
    configure_logging("debug", service="history", stream=stream)
    try:
        logging.getLogger("tidal.history.shard").info(
            "committed %d events", 3, extra={"shard": 7, "workflow_id": "wf-1", "run_id": "r"}
        )
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("x").exception("failed")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "committed 3 events" and first["level"] == "INFO"
    assert first["service"] == "history" and first["logger"] == "tidal.history.shard"
    assert (first["shard"], first["workflow_id"], first["run_id"]) == (7, "wf-1", "r")
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exception"]


async def test_a_stack_process_freezes_its_heap_once_its_services_started(
    journal: Journal, fresh_database_url: str, fresh_vhost_amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `tidal-server run` as `dev` does: the collector stays off what the started services hold
    # (gc_freeze.py); the test session's own heap is left alone (recorded instead).
    await migrate(fresh_database_url)
    settings = CommonSettings(database_url=fresh_database_url, amqp_url=fresh_vhost_amqp_url)
    frozen_after: list[list[str]] = []
    stop, started = asyncio.Event(), asyncio.Event()

    def freeze() -> None:
        frozen_after.append(list(journal.events))
        stop.set()

    monkeypatch.setattr(cli, "freeze_startup_heap", freeze)
    await asyncio.wait_for(
        cli._serve_runtime(["history"], settings, False, None, None, stop, started, Health()), 20
    )
    assert frozen_after == [["start:history"]]
