"""A real Postgres for tests: a testcontainers container or a throwaway local cluster."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import (
    DATABASE_URL_ENV,
    INSTALL_HINT,
    POSTGRES_IMAGE,
    POSTGRES_START_TIMEOUT,
    ServerUnavailableError,
    _free_port,
    _is_root,
    _register,
    _run,
    _run_async,
    _tail,
    _unregister,
    asyncpg_dsn,
    docker_available,
    with_database,
)

log = logging.getLogger("tidal.tests.servers")


# --------------------------------------------------------------------------- Postgres


@dataclass
class Postgres:
    """A Postgres server; ``url`` is in SQLAlchemy asyncpg form and the user may CREATE DATABASE."""

    url: str
    mode: str  # "external" | "container" | "local"
    _container: Any = None
    _bin_dir: Path | None = None
    _data_dir: Path | None = None
    _base_dir: Path | None = None
    _options: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def dsn(self) -> str:
        """The URL in the plain form asyncpg/psycopg accept."""
        return asyncpg_dsn(self.url)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name``, empty or a copy of ``template`` (which nothing may be connected
        to); return its URL (same form as ``url``)."""
        copy = f' TEMPLATE "{template}"' if template else ""
        _run_async(self._execute(f'CREATE DATABASE "{name}"{copy}'))
        return with_database(self.url, name)

    def drop_database(self, name: str) -> None:
        # FORCE: a test that leaked a connection or pool must not leak the database too.
        _run_async(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=30)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def restart(self, *, crash: bool = True) -> None:
        """Stop and start a local cluster on the same data directory and port. `crash`: stop in
        immediate mode (no shutdown checkpoint; WAL recovery on start, as after a power cut)."""
        if self.mode != "local":
            raise ServerUnavailableError(f"cannot restart an {self.mode} Postgres")
        self.kill(crash=crash)
        self.start_again()

    def kill(self, *, crash: bool = True) -> None:
        """Stop a local cluster (immediate mode when `crash`); `start_again` brings it back."""
        assert self._bin_dir is not None and self._data_dir is not None
        mode = "immediate" if crash else "fast"
        _pg_run(
            [str(self._bin_dir / "pg_ctl"), "-D", str(self._data_dir), "-m", mode, "-w", "stop"], timeout=60
        )

    def start_again(self) -> None:
        assert self._bin_dir is not None and self._data_dir is not None and self._base_dir is not None
        _pg_ctl_start(self._bin_dir, self._data_dir, self._base_dir, self._options)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _unregister(self)
        if self.mode == "container":
            with contextlib.suppress(Exception):
                self._container.stop()
        elif self.mode == "local":
            assert self._bin_dir is not None and self._data_dir is not None
            # Immediate mode: the cluster is thrown away, so no checkpoint is worth waiting for.
            _pg_run(
                [str(self._bin_dir / "pg_ctl"), "-D", str(self._data_dir), "-m", "immediate", "-w", "stop"],
                timeout=60,
                check=False,
            )
            if self._base_dir is not None:
                shutil.rmtree(self._base_dir, ignore_errors=True)


def _pg_bin_dir() -> Path | None:
    override = os.environ.get("TIDAL_PG_BIN_DIR")
    if override:
        return Path(override)
    # Debian keeps the server binaries out of PATH, one directory per major version.
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _pg_run(
    cmd: Sequence[str], *, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    # initdb and postgres refuse to run as root; drop to the postgres user.
    if _is_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    return _run(cmd, env=env, timeout=timeout, check=check)


def start_postgres(*, allow_container: bool = True, durable: bool = False) -> Postgres:
    """Provide a Postgres server (see the module docstring for the order). The private local
    cluster runs with fsync and synchronous_commit off for speed unless `durable` (the chaos
    suite crashes it and must not lose an acknowledged commit; docs/reliability.md)."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return Postgres(url=url, mode="external")
    if allow_container and docker_available():
        return _start_postgres_container()
    return _start_postgres_local(durable=durable)


def start_private_postgres(*, durable: bool = False) -> Postgres:
    """Always a private local cluster (never the env URL or a container): for tests that stop
    and restart the server itself."""
    return _start_postgres_local(durable=durable)


def _pg_ctl_start(bin_dir: Path, data_dir: Path, base: Path, options: str) -> None:
    # -w: pg_ctl itself polls until the server accepts connections (or its timeout).
    _pg_run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(base / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(POSTGRES_START_TIMEOUT)),
            "start",
        ],
        timeout=POSTGRES_START_TIMEOUT + 10,
    )


def _start_postgres_container() -> Postgres:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(
        POSTGRES_IMAGE, username="tidal", password=secrets.token_hex(8), dbname="tidal", driver="asyncpg"
    )
    container.start()  # waits until the server accepts connections
    server = Postgres(url=container.get_connection_url(), mode="container", _container=container)
    _register(server)
    return server


def _start_postgres_local(*, durable: bool = False) -> Postgres:
    bin_dir = _pg_bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        raise ServerUnavailableError(
            "No Postgres for tests: set TIDAL_TEST_DATABASE_URL, start a Docker engine, "
            f"or install the local binaries: `{INSTALL_HINT}` (the tests start private clusters; "
            "the system service may stay stopped)."
        )
    if _is_root():
        try:
            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailableError(
                f"running as root but there is no 'postgres' user to run the server as; `{INSTALL_HINT}`"
            ) from None
    base = Path(tempfile.mkdtemp(prefix="tidal-postgres-"))
    data_dir, sock_dir = base / "data", base / "sock"
    sock_dir.mkdir()
    if _is_root():
        for path in (base, sock_dir):
            os.chown(path, pg_user.pw_uid, pg_user.pw_gid)
    port = _free_port()
    password = secrets.token_hex(8)
    server = Postgres(
        url=f"postgresql+asyncpg://tidal:{password}@127.0.0.1:{port}/tidal",
        mode="local",
        _bin_dir=bin_dir,
        _data_dir=data_dir,
        _base_dir=base,
    )
    try:
        _pg_run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--no-sync",
                # Trust only over our private socket (used for the bootstrap below);
                # TCP clients, i.e. the code under test, authenticate like in production.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            timeout=120,
        )
        _register(server)
        speed = "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        options = f"-p {port} -k {sock_dir} -c listen_addresses=127.0.0.1 {speed}-c max_connections=300"
        server._options = options
        _pg_ctl_start(bin_dir, data_dir, base, options)
        psql = [
            str(bin_dir / "psql"),
            "-h",
            str(sock_dir),
            "-p",
            str(port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        _pg_run(
            [*psql, "-d", "postgres", "-c", f"CREATE ROLE tidal LOGIN SUPERUSER PASSWORD '{password}'"],
        )
        _pg_run([*psql, "-d", "postgres", "-c", "CREATE DATABASE tidal OWNER tidal"])
    except Exception as exc:
        log_text = _tail(base / "postgres.log")
        server.stop()
        raise RuntimeError(f"private Postgres cluster failed to start: {exc}\n{log_text}") from exc
    return server
