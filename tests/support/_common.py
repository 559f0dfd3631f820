"""Shared plumbing for the test servers: settings, subprocess helpers, URL helpers and the
registry that stops every server at exit."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Sequence
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


# Below the kernel's ephemeral range, so no outgoing connection is ever given it as its source
# port. A private server that is killed and started again (tests that restart the broker or the
# database) binds its old ports once more; a port from the ephemeral range (what binding port 0
# gives) can meanwhile be the source port of any new connection on the box (1,700 established
# and 1,500 in TIME_WAIT on a loaded 2-core box, of 28k), and the restart then fails: RabbitMQ
# waits out its whole boot timeout (docs/reliability.md, "the broker-kill flake").
_PORTS_FROM = 10000
_AVOID = {15672, 15692, 25672}  # RabbitMQ's management, prometheus and default dist ports


def ephemeral_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _free_port() -> int:
    # Bind-then-close has a small race with other processes; callers that start a
    # server on the port detect a clash through the start-up failing loudly.
    low = ephemeral_port_range()[0]
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_PORTS_FROM, low) if low > _PORTS_FROM else 0
        if port in _AVOID:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
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
