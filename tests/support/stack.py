"""The full Tidal stack as real processes (one per service) against real RabbitMQ and Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.polling import until

SERVICES = ("history", "matching", "timer", "frontend")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    amqp_url: str
    database_url: str
    shard_count: int = 8
    http_port: int = field(default_factory=free_port)
    log_dir: Path = field(default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TIDAL_AMQP_URL": self.amqp_url,
                "TIDAL_DATABASE_URL": self.database_url,
                "TIDAL_SHARD_COUNT": str(self.shard_count),
                "TIDAL_HTTP_PORT": str(self.http_port),
                "TIDAL_LOG_LEVEL": "INFO",
                # Fast failover in tests: members are considered gone after 2 s without a heartbeat.
                "TIDAL_HEARTBEAT_SECONDS": "0.5",
                "TIDAL_MEMBER_TTL_SECONDS": "2",
            }
        )
        env.update(extra)
        return env

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "tidal_server.cli", "migrate"],
            env=self.env(),
            check=True,
            cwd=ROOT,
            timeout=120,
        )

    def start(self, name: str, *, key: str | None = None, **extra_env: str) -> subprocess.Popen[bytes]:
        key = key or name
        log = open(self.log_dir / f"tidal-{key}-{os.getpid()}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tidal_server.cli", "run", name],
            env=self.env(**extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        self.procs[key] = proc
        return proc

    def start_all(self) -> None:
        self.migrate()
        self.start_services()

    def start_services(self) -> None:
        """Every service, on a database already migrated (e.g. the `migrated_database_url` fixture)."""
        for name in SERVICES:
            self.start(name)

    def log_of(self, key: str) -> str:
        path = self.log_dir / f"tidal-{key}-{os.getpid()}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while True:
                for key, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"{key} exited with {proc.returncode}:\n{self.log_of(key)[-3000:]}"
                        )
                try:
                    r = await http.get(f"{self.address}/readyz", timeout=2)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        "the stack did not become ready:\n"
                        + "\n".join(f"--- {k}\n{self.log_of(k)[-2000:]}" for k in self.procs)
                    )
                await asyncio.sleep(0.1)

    def kill(self, key: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(key)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in list(self.procs.values()):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


async def create_admin_key(stack: Stack) -> str:
    """An admin API key for every namespace, made as an operator bootstraps one: `tidal-server
    api-key create` against the stack's database."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tidal_server.cli", "api-key", "create", "--namespace", "*", "--role", "admin",
        "--output", "json",
        env=stack.env(), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return str(json.loads(out)["key"])


async def wait_for(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> None:
    """Poll with a deadline (tests never sleep as synchronisation): `polling.until`."""
    await until(predicate, what=what, deadline=timeout, interval=interval)
