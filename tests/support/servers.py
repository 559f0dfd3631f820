"""Real RabbitMQ and Postgres servers for tests, benchmarks and local runs.

Resolution order for each server (independently):

1. an explicit URL in ``TIDAL_TEST_AMQP_URL`` / ``TIDAL_TEST_DATABASE_URL``;
2. a testcontainers container, when a Docker engine answers;
3. a private, throwaway server built from the local Debian binaries
   (``apt-get install -y rabbitmq-server postgresql``).

Private servers bind to 127.0.0.1 on free ports and keep all their state in a
temporary directory, so several test sessions (or engineers) can run side by
side without touching the system services.

Run ``python -m tests.support.servers`` to start both and print their URLs
(handy for benchmarks or poking at things by hand); Ctrl-C stops them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger("tidal.tests.servers")

T = TypeVar("T")

AMQP_URL_ENV = "TIDAL_TEST_AMQP_URL"
DATABASE_URL_ENV = "TIDAL_TEST_DATABASE_URL"
INSTALL_HINT = "apt-get install -y rabbitmq-server postgresql"

RABBITMQ_IMAGE = os.environ.get("TIDAL_TEST_RABBITMQ_IMAGE", "rabbitmq:3.13-alpine")
POSTGRES_IMAGE = os.environ.get("TIDAL_TEST_POSTGRES_IMAGE", "postgres:16-alpine")

# Generous: a cold Erlang VM on a loaded CI runner can take tens of seconds.
RABBITMQ_START_TIMEOUT = 120.0
POSTGRES_START_TIMEOUT = 60.0


class ServerUnavailableError(RuntimeError):
    """No way to provide the requested server on this machine."""


class Server(Protocol):
    url: str
    mode: str

    def stop(self) -> None: ...


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    # Bind-then-close has a small race with other processes; callers that start a
    # server on the port detect a clash through the start-up failing loudly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unique_suffix() -> str:
    return f"{os.getpid()}{secrets.token_hex(3)}"


def _is_root() -> bool:
    return os.geteuid() == 0


def docker_available() -> bool:
    """True when a Docker engine answers; cheap (fails in well under a second without one)."""
    if os.environ.get("TIDAL_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    # Output goes to temp files, not pipes: commands that daemonize (`rabbitmq-server
    # -detached`, `pg_ctl start`) leave children holding inherited pipes open, and
    # reading a pipe to EOF would then block until the timeout.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            list(cmd),
            env=env,
            stdout=out,
            stderr=err,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return f"<{path} unreadable>"


def _wait_for_port(host: str, port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port}") from None
            time.sleep(0.1)


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a private loop in a worker thread.

    Keeps the helpers synchronous so they work from sync fixtures, sync tests and
    scripts alike, whether or not an event loop is already running in this thread.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="tidal-servers-async", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def asyncpg_dsn(database_url: str) -> str:
    """``postgresql+asyncpg://...`` (SQLAlchemy form) -> ``postgresql://...`` (asyncpg form)."""
    parts = urlsplit(database_url)
    scheme = parts.scheme.split("+", 1)[0]
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(database_url: str, name: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def with_vhost(amqp_url: str, vhost: str) -> str:
    # Quote everything, "/" included: the default vhost "/" must become "%2F".
    parts = urlsplit(amqp_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def _amqp_url(host: str, port: int, user: str, password: str, vhost: str = "/") -> str:
    base = f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"
    # No trailing slash for the default vhost: "amqp://h:p/" means the *empty* vhost.
    return base if vhost == "/" else with_vhost(base, vhost)


# Servers we started, so an interpreter exiting without an explicit stop (Ctrl-C in
# a bench script, a crashed pytest session) does not leak Erlang VMs or postmasters.
_live: list[Server] = []
_live_lock = threading.Lock()


def _register(server: Server) -> None:
    with _live_lock:
        _live.append(server)


def _unregister(server: Server) -> None:
    with _live_lock, contextlib.suppress(ValueError):
        _live.remove(server)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        servers = list(reversed(_live))
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


# --------------------------------------------------------------------------- RabbitMQ


@dataclass
class RabbitMQ:
    """A RabbitMQ broker; ``url`` points at the default vhost ``/``."""

    url: str
    mode: str  # "external" | "container" | "local"
    _container: Any = None
    _env: dict[str, str] | None = None
    _bin_dir: Path | None = None
    _base_dir: Path | None = None
    _pid_file: Path | None = None
    _epmd_port: int | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 5672

    def rabbitmqctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl`` against this broker (local node or inside the container)."""
        if self.mode == "local":
            assert self._bin_dir is not None and self._env is not None
            return _run([str(self._bin_dir / "rabbitmqctl"), *args], env=self._env, timeout=timeout).stdout
        if self.mode == "container":
            code, output = self._container.exec(["rabbitmqctl", *args])
            text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
            if code != 0:
                raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed in container: {text}")
            return text
        raise ServerUnavailableError(f"rabbitmqctl is not available for an {self.mode} broker ({self.url})")

    @property
    def can_manage_vhosts(self) -> bool:
        return self.mode in ("local", "container")

    def add_vhost(self, vhost: str) -> str:
        """Create ``vhost`` with full permissions for the URL's user; return its URL."""
        user = urlsplit(self.url).username or "guest"
        if self.mode == "local":
            # One Erlang expression instead of two CLI calls: every rabbitmqctl call boots
            # an Erlang VM (~1 s), and this runs once per test that wants isolation.
            expr = (
                f'ok = rabbit_vhost:add(<<"{_erl_escape(vhost)}">>, <<"tidal-tests">>), '
                f'rabbit_auth_backend_internal:set_permissions(<<"{_erl_escape(user)}">>, '
                f'<<"{_erl_escape(vhost)}">>, <<".*">>, <<".*">>, <<".*">>, <<"tidal-tests">>).'
            )
            self.rabbitmqctl("eval", expr)
        else:
            self.rabbitmqctl("add_vhost", vhost)
            self.rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        return with_vhost(self.url, vhost)

    def delete_vhost(self, vhost: str) -> None:
        if self.mode == "local":
            self.rabbitmqctl("eval", f'rabbit_vhost:delete(<<"{_erl_escape(vhost)}">>, <<"tidal-tests">>).')
        else:
            self.rabbitmqctl("delete_vhost", vhost)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _unregister(self)
        if self.mode == "container":
            with contextlib.suppress(Exception):
                self._container.stop()
        elif self.mode == "local":
            self._stop_local()

    def _stop_local(self) -> None:
        assert self._bin_dir is not None and self._env is not None
        try:
            # With the pid file, `stop` also waits for the OS process to exit.
            args = ["stop"] + ([str(self._pid_file)] if self._pid_file else [])
            _run([str(self._bin_dir / "rabbitmqctl"), *args], env=self._env, timeout=60)
        except Exception as exc:
            log.warning("rabbitmqctl stop failed (%s); killing the node", exc)
            self._kill_local()
        # Our private epmd would otherwise outlive the node forever.
        epmd = shutil.which("epmd") or _find_erlang_epmd()
        if epmd and self._epmd_port:
            _run([epmd, "-port", str(self._epmd_port), "-kill"], env=self._env, timeout=15, check=False)
        if self._base_dir is not None:
            shutil.rmtree(self._base_dir, ignore_errors=True)

    def _kill_local(self) -> None:
        if self._pid_file is None:
            return
        with contextlib.suppress(Exception):
            os.kill(int(self._pid_file.read_text().strip()), signal.SIGKILL)


def _erl_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _find_erlang_epmd() -> str | None:
    for candidate in sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"), reverse=True):
        return str(candidate)
    return None


def _rabbitmq_bin_dir() -> Path | None:
    override = os.environ.get("TIDAL_RABBITMQ_BIN_DIR")
    if override:
        return Path(override)
    # Debian's /usr/sbin/rabbitmq-* wrappers insist on root or the rabbitmq user and
    # `su` to rabbitmq (a HOME we don't control); the real scripts run as anyone.
    debian = Path("/usr/lib/rabbitmq/bin")
    if (debian / "rabbitmq-server").exists():
        return debian
    found = shutil.which("rabbitmq-server")
    return Path(found).resolve().parent if found else None


def start_rabbitmq(*, allow_container: bool = True) -> RabbitMQ:
    """Provide a RabbitMQ broker (see the module docstring for the order)."""
    url = os.environ.get(AMQP_URL_ENV)
    if url:
        parts = urlsplit(url)
        if parts.path == "/":
            # A bare trailing slash selects the *empty* vhost, which is never what was meant.
            url = urlunsplit((parts.scheme, parts.netloc, "", parts.query, parts.fragment))
        return RabbitMQ(url=url, mode="external")
    if allow_container and docker_available():
        return _start_rabbitmq_container()
    return _start_rabbitmq_local()


def _start_rabbitmq_container() -> RabbitMQ:
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer
    except ImportError:
        from testcontainers.rabbitmq import RabbitMqContainer

    user, password = "tidal", secrets.token_hex(8)
    container = RabbitMqContainer(RABBITMQ_IMAGE, username=user, password=password)
    container.start()  # waits until the broker accepts AMQP connections
    host = container.get_container_host_ip()
    port = int(container.get_exposed_port(container.port))
    server = RabbitMQ(url=_amqp_url(host, port, user, password), mode="container", _container=container)
    _register(server)
    return server


def _start_rabbitmq_local() -> RabbitMQ:
    bin_dir = _rabbitmq_bin_dir()
    if bin_dir is None or not (bin_dir / "rabbitmq-server").exists():
        raise ServerUnavailableError(
            "No RabbitMQ for tests: set TIDAL_TEST_AMQP_URL, start a Docker engine, "
            f"or install the local binaries: `{INSTALL_HINT}` (the tests start private nodes; "
            "the system service may stay stopped)."
        )
    base = Path(tempfile.mkdtemp(prefix="tidal-rabbitmq-"))
    suffix = _unique_suffix()
    node_port, dist_port, epmd_port = _free_port(), _free_port(), _free_port()
    pid_file = base / "rabbit.pid"
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq.conf").write_text(
        # Tests run on small CI disks: the default 50MB free-disk alarm would block publishers.
        "disk_free_limit.absolute = 1MB\n"
    )
    env = {
        **os.environ,
        # Our own HOME keeps the Erlang cookie private (and writable even when the
        # real HOME is not).
        "HOME": str(base),
        "RABBITMQ_NODENAME": f"tidaltest-{suffix}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(node_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(pid_file),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        # Ignore /etc/rabbitmq/rabbitmq-env.conf: it may pin NODENAME or ports.
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        # A private epmd: the shared one on 4369 keeps stale registrations of killed
        # nodes around for a while, and we can kill ours at the end without affecting
        # anyone else's nodes.
        "ERL_EPMD_PORT": str(epmd_port),
        # rabbitmqctl's own distribution listener otherwise competes for a fixed
        # machine-wide range (35672-35682) with every other CLI call on the host.
        "RABBITMQ_CTL_DIST_PORT_MIN": "0",
        "RABBITMQ_CTL_DIST_PORT_MAX": "0",
    }
    for key in ("RABBITMQ_NODE_ONLY", "RABBITMQ_ALLOW_INPUT", "RABBITMQ_SERVER_START_ARGS"):
        env.pop(key, None)
    (base / "log").mkdir()
    server = RabbitMQ(
        url=_amqp_url("127.0.0.1", node_port, "guest", "guest"),
        mode="local",
        _env=env,
        _bin_dir=bin_dir,
        _base_dir=base,
        _pid_file=pid_file,
        _epmd_port=epmd_port,
    )
    _register(server)
    deadline = time.monotonic() + RABBITMQ_START_TIMEOUT
    try:
        _run([str(bin_dir / "rabbitmq-server"), "-detached"], env=env, timeout=60)
        # `await_startup` right after -detached fails at once because the node is not
        # registered yet; `wait <pidfile>` first waits for the pid file, then for the app.
        _run(
            [
                str(bin_dir / "rabbitmqctl"),
                "wait",
                "--timeout",
                str(int(RABBITMQ_START_TIMEOUT)),
                str(pid_file),
            ],
            env=env,
            timeout=RABBITMQ_START_TIMEOUT + 10,
        )
        _wait_for_port("127.0.0.1", node_port, deadline)
    except Exception as exc:
        logs = "\n".join(f"--- {p}\n{_tail(p)}" for p in sorted((base / "log").glob("*.log")))
        server.stop()
        raise RuntimeError(f"private RabbitMQ node failed to start: {exc}\n{logs}") from exc
    return server


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
    _stopped: bool = field(default=False, repr=False)

    @property
    def dsn(self) -> str:
        """The URL in the plain form asyncpg/psycopg accept."""
        return asyncpg_dsn(self.url)

    def create_database(self, name: str) -> str:
        """Create an empty database ``name``; return its URL (same form as ``url``)."""
        _run_async(self._execute(f'CREATE DATABASE "{name}"'))
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


def start_postgres(*, allow_container: bool = True) -> Postgres:
    """Provide a Postgres server (see the module docstring for the order)."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return Postgres(url=url, mode="external")
    if allow_container and docker_available():
        return _start_postgres_container()
    return _start_postgres_local()


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


def _start_postgres_local() -> Postgres:
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
        options = (
            f"-p {port} -k {sock_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
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


# --------------------------------------------------------------------------- both


@dataclass
class Servers:
    rabbitmq: RabbitMQ
    postgres: Postgres

    @property
    def amqp_url(self) -> str:
        return self.rabbitmq.url

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def stop(self) -> None:
        self.rabbitmq.stop()
        self.postgres.stop()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_servers() -> Servers:
    """Start RabbitMQ and Postgres (in parallel: RabbitMQ dominates start-up time)."""
    pg_result: list[Postgres] = []
    pg_error: list[BaseException] = []

    def _pg() -> None:
        try:
            pg_result.append(start_postgres())
        except BaseException as exc:
            pg_error.append(exc)

    thread = threading.Thread(target=_pg, name="start-postgres", daemon=True)
    thread.start()
    try:
        rabbit = start_rabbitmq()
    except BaseException:
        thread.join()
        for pg in pg_result:
            pg.stop()
        raise
    thread.join()
    if pg_error:
        rabbit.stop()
        raise pg_error[0]
    return Servers(rabbitmq=rabbit, postgres=pg_result[0])


@contextlib.contextmanager
def running_servers() -> Iterator[Servers]:
    servers = start_servers()
    try:
        yield servers
    finally:
        servers.stop()


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    started = time.monotonic()
    with running_servers() as servers:
        print(f"export {AMQP_URL_ENV}='{servers.amqp_url}'", flush=True)
        print(f"export {DATABASE_URL_ENV}='{servers.database_url}'", flush=True)
        print(
            f"# rabbitmq: {servers.rabbitmq.mode}, postgres: {servers.postgres.mode}, "
            f"started in {time.monotonic() - started:.1f}s; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
