"""The system under test as real processes, and the faults injected into it.

Private RabbitMQ and Postgres (Postgres durable: fsync and synchronous_commit on), the services
as `tidal-server run` processes (two history processes), and a worker process. `inject_faults`
SIGKILLs a random process every few seconds and restarts it, and restarts the broker and the
database once each; a supervisor restarts any process that exits on its own (as an orchestrator
would) and counts it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.postgres import Postgres
from tests.support.rabbitmq import RabbitMQ
from tests.support.stack import ROOT, Stack

from .activity_log import Fault

__all__ = ["Cluster", "inject_faults"]

# key -> (service, extra environment)
_SERVICES: dict[str, tuple[str, dict[str, str]]] = {
    "history-a": ("history", {"TIDAL_MEMBER_ID": "history-a"}),
    "history-b": ("history", {"TIDAL_MEMBER_ID": "history-b"}),
    "matching": ("matching", {}),
    "timer": ("timer", {}),
    "frontend": ("frontend", {}),
}
WORKER = "worker"


@dataclass
class Cluster:
    rabbitmq: RabbitMQ
    postgres: Postgres
    run_dir: Path
    shard_count: int = 8
    faults: list[Fault] = field(default_factory=list)
    stack: Stack = field(init=False)
    worker: subprocess.Popen[bytes] | None = None
    t0: float = field(default_factory=time.time)
    _killed: set[int] = field(default_factory=set)
    _env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stack = Stack(
            amqp_url=self.rabbitmq.url,
            database_url=self.postgres.url,
            shard_count=self.shard_count,
            log_dir=self.run_dir,
        )
        # Production membership timing (the test default of a 2 s TTL flaps on a loaded machine).
        self._env = {"TIDAL_HEARTBEAT_SECONDS": "1", "TIDAL_MEMBER_TTL_SECONDS": "5"}

    @property
    def activity_log(self) -> Path:
        return self.run_dir / "activities.jsonl"

    @property
    def targets(self) -> list[str]:
        return [*_SERVICES, WORKER]

    def start(self, key: str) -> None:
        if key == WORKER:
            log = open(self.run_dir / "worker.log", "ab")
            self.worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.chaos.workload",
                    self.stack.address,
                    self.rabbitmq.url,
                    str(self.activity_log),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            return
        service, env = _SERVICES[key]
        self.stack.start(service, key=key, **self._env, **env)

    def start_all(self) -> None:
        with open(self.run_dir / "migrate.log", "ab") as log:
            subprocess.run(
                [sys.executable, "-m", "tidal_server.cli", "migrate"],
                env=self.stack.env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=180,
            )
        for key in self.targets:
            self.start(key)

    def proc(self, key: str) -> subprocess.Popen[bytes] | None:
        return self.worker if key == WORKER else self.stack.procs.get(key)

    def kill(self, key: str) -> None:
        """SIGKILL (no goodbye: no shutdown hook, no ack, no flush)."""
        proc = self.proc(key)
        if proc is None or proc.poll() is not None:
            return
        self._killed.add(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        self.faults.append(Fault(t=time.time(), kind="kill", target=key))

    def supervise(self) -> None:
        """Restart what exited without being killed by us, and record it."""
        for key in self.targets:
            proc = self.proc(key)
            if proc is not None and proc.poll() is not None and proc.pid not in self._killed:
                self._killed.add(proc.pid)
                self.faults.append(
                    Fault(t=time.time(), kind="exited", target=f"{key} (rc {proc.returncode})")
                )
                self.start(key)

    def ensure_running(self) -> None:
        for key in self.targets:
            proc = self.proc(key)
            if proc is None or proc.poll() is not None:
                if proc is not None and proc.pid not in self._killed:
                    self.faults.append(
                        Fault(t=time.time(), kind="exited", target=f"{key} (rc {proc.returncode})")
                    )
                    self._killed.add(proc.pid)
                self.start(key)

    def restart_rabbitmq(self) -> None:
        self._restart_server(
            "restart-rabbitmq", "rabbitmq", lambda: self.rabbitmq.kill(hard=True), self.rabbitmq.start_again
        )

    def restart_postgres(self) -> None:
        self._restart_server(
            "restart-postgres", "postgres", lambda: self.postgres.kill(crash=True), self.postgres.start_again
        )

    def _restart_server(
        self, kind: str, target: str, kill: Callable[[], None], boot: Callable[[], None]
    ) -> None:
        t = time.time()
        kill()
        for attempt in range(3):
            try:
                boot()
                break
            except Exception as exc:  # a slow boot on a loaded machine: say so, try again
                self.faults.append(
                    Fault(t=time.time(), kind="server-start-retry", target=f"{target}: {exc}"[:300])
                )
                if attempt == 2:
                    raise
        self.faults.append(Fault(t=t, kind=kind, target=target, end=time.time()))

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
        self.stack.stop_all()


async def inject_faults(
    cluster: Cluster,
    *,
    seconds: float,
    interval: tuple[float, float],
    rng: random.Random,
    restart_servers: bool = True,
    min_kills: int = 0,
) -> None:
    """Kill a random process every `interval` seconds for `seconds`; restart it after a short
    pause. The broker restarts at about a third of the window, the database at two thirds.
    Goes on past `seconds` (up to three times it) until `min_kills` SIGKILLs were dealt: on a loaded
    machine the server restarts can take most of a short window."""
    t0 = time.monotonic()

    def kills() -> int:
        return sum(1 for f in cluster.faults if f.kind == "kill")

    def more() -> bool:
        elapsed = time.monotonic() - t0
        return elapsed < seconds or (kills() < min_kills and elapsed < 3 * seconds)

    server_restarts = (
        [(seconds / 3, cluster.restart_rabbitmq), (2 * seconds / 3, cluster.restart_postgres)]
        if restart_servers
        else []
    )

    async def supervisor() -> None:
        while True:
            cluster.supervise()
            await asyncio.sleep(0.5)

    watch = asyncio.create_task(supervisor())
    try:
        while more():
            await asyncio.sleep(rng.uniform(*interval))
            elapsed = time.monotonic() - t0
            if server_restarts and elapsed >= server_restarts[0][0]:
                _, restart = server_restarts.pop(0)
                await asyncio.to_thread(restart)
                continue
            key = rng.choice(cluster.targets)
            cluster.kill(key)
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            cluster.start(key)
        for _, restart in server_restarts:  # a window too short to reach them
            await asyncio.to_thread(restart)
    finally:
        watch.cancel()
    cluster.ensure_running()
