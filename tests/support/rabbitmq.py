"""A real RabbitMQ for tests: a testcontainers container or a private local node."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._common import (
    AMQP_URL_ENV,
    INSTALL_HINT,
    RABBITMQ_IMAGE,
    RABBITMQ_START_TIMEOUT,
    ServerUnavailableError,
    _amqp_url,
    _free_port,
    _register,
    _run,
    _tail,
    _unique_suffix,
    _unregister,
    _wait_for_port,
    docker_available,
    with_vhost,
)

log = logging.getLogger("tidal.tests.servers")


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

    def log_lines(self, containing: str) -> list[str]:
        """A local node's log lines holding `containing`, every boot's (for a failure's message)."""
        if self.mode != "local" or self._base_dir is None:
            return []
        return [
            line
            for path in sorted((self._base_dir / "log").glob("*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if containing in line
        ]

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
        self.delete_vhosts([vhost])

    def delete_vhosts(self, vhosts: Sequence[str]) -> None:
        """Delete ``vhosts``; on a local node in one rabbitmqctl call (each boots an Erlang VM)."""
        if self.mode == "local":
            names = ", ".join(f'<<"{_erl_escape(v)}">>' for v in vhosts)
            self.rabbitmqctl("eval", f'[rabbit_vhost:delete(V, <<"tidal-tests">>) || V <- [{names}]], ok.')
        else:
            for vhost in vhosts:
                self.rabbitmqctl("delete_vhost", vhost)

    def restart(self, *, hard: bool = True) -> None:
        """Stop and start a local node on the same ports and data (durable queues and persistent
        messages survive). `hard`: SIGKILL the Erlang VM, as a crash would."""
        self.kill(hard=hard)
        self.start_again()

    def kill(self, *, hard: bool = True) -> None:
        """Stop a local node without removing its data; `start_again` brings it back."""
        if self.mode != "local":
            raise ServerUnavailableError(f"cannot restart an {self.mode} RabbitMQ")
        assert self._bin_dir is not None and self._env is not None and self._pid_file is not None
        pid = int(self._pid_file.read_text().strip())
        if hard:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        else:
            _run([str(self._bin_dir / "rabbitmqctl"), "stop", str(self._pid_file)], env=self._env, timeout=60)
        deadline = time.monotonic() + 30
        while _alive(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"RabbitMQ node (pid {pid}) did not exit")
            time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()

    def start_again(self, *, timeout: float = 300.0) -> None:
        """Boot the node again (after an unclean stop it recovers its queues, which can take a
        while on a loaded machine: hence the long default)."""
        assert self._bin_dir is not None and self._env is not None and self._pid_file is not None
        _boot_local_node(self._bin_dir, self._env, self._pid_file, self.port, timeout=timeout)

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
            # With the pid file, `stop` also waits for the OS process to exit. Without one
            # (a boot that failed before the VM wrote it) `stop <pidfile>` would wait for the
            # file until its timeout (60 s); plain `stop` asks the node by name and fails fast.
            has_pid = self._pid_file is not None and self._pid_file.exists()
            args = ["stop"] + ([str(self._pid_file)] if has_pid else [])
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (the detached VM is not our child, so rarely one).
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


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


def start_private_rabbitmq(*, timeout: float = RABBITMQ_START_TIMEOUT) -> RabbitMQ:
    """Always a private local node (never the env URL or a container): for tests that kill and
    restart the broker itself."""
    return _start_rabbitmq_local(timeout=timeout)


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


def _start_rabbitmq_local(*, timeout: float = RABBITMQ_START_TIMEOUT) -> RabbitMQ:
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
    # The cookie exists before anything starts: otherwise `rabbitmq-server -detached` and
    # the first `rabbitmqctl` race to create HOME/.erlang.cookie, each keeps its own, and
    # every CLI call is rejected ("Invalid challenge reply") until the boot times out.
    _write_erlang_cookie(base)
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
    try:
        _boot_local_node(bin_dir, env, pid_file, node_port, timeout=timeout)
    except Exception as exc:
        logs = "\n".join(f"--- {p}\n{_tail(p)}" for p in sorted((base / "log").glob("*.log")))
        server.stop()
        raise RuntimeError(f"private RabbitMQ node failed to start: {exc}\n{logs}") from exc
    return server


def _write_erlang_cookie(home: Path) -> Path:
    cookie = home / ".erlang.cookie"
    fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(20).upper())
    return cookie


def _boot_local_node(
    bin_dir: Path,
    env: dict[str, str],
    pid_file: Path,
    node_port: int,
    *,
    timeout: float = RABBITMQ_START_TIMEOUT,
) -> None:
    deadline = time.monotonic() + timeout
    _run([str(bin_dir / "rabbitmq-server"), "-detached"], env=env, timeout=60)
    # `await_startup` right after -detached fails at once because the node is not
    # registered yet; `wait <pidfile>` first waits for the pid file, then for the app.
    _run(
        [
            str(bin_dir / "rabbitmqctl"),
            "wait",
            "--timeout",
            str(int(timeout)),
            str(pid_file),
        ],
        env=env,
        timeout=timeout + 10,
    )
    _wait_for_port("127.0.0.1", node_port, deadline)
