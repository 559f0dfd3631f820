"""CPU seconds per process group from /proc (no psutil): who burns the cores during a phase.

Groups are process trees rooted at known pids (each Tidal service, the worker, this process,
the RabbitMQ node, the postmaster); everything else on the box is "other" (other users' load).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read_all() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, cpu seconds of the process itself)."""
    out: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ')'.
        rest = raw[raw.rfind(")") + 2 :].split()
        ppid, utime, stime = int(rest[1]), int(rest[11]), int(rest[12])
        out[int(entry.name)] = (ppid, (utime + stime) / _TICK)
    return out


def _system_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all cores, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / _TICK, total / _TICK


@dataclass
class CpuSampler:
    roots: Mapping[str, int]
    _before: dict[int, tuple[int, float]] = field(default_factory=dict)
    _sys_before: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._before = _read_all()
        self._sys_before = _system_busy()

    def stop(self) -> dict[str, float]:
        after = _read_all()
        busy, total = _system_busy()
        group_of: dict[int, str] = {}

        def group(pid: int) -> str:
            if pid in group_of:
                return group_of[pid]
            seen: list[int] = []
            cur = pid
            name = "other"
            while cur > 1:
                hit = next((g for g, root in self.roots.items() if root == cur), None)
                if hit is not None:
                    name = hit
                    break
                if cur in group_of:
                    name = group_of[cur]
                    break
                seen.append(cur)
                cur = after.get(cur, self._before.get(cur, (0, 0.0)))[0]
            for p in seen:
                group_of[p] = name
            group_of[pid] = name
            return name

        usage: dict[str, float] = {}
        for pid, (_, cpu) in after.items():
            delta = cpu - self._before.get(pid, (0, 0.0))[1]
            if delta <= 0:
                continue
            g = group(pid)
            usage[g] = usage.get(g, 0.0) + delta
        usage["_system_busy"] = busy - self._sys_before[0]
        usage["_system_capacity"] = total - self._sys_before[1]
        return {k: round(v, 2) for k, v in sorted(usage.items(), key=lambda kv: -kv[1])}


def rabbitmq_pid(pid_file: Path | None) -> int | None:
    try:
        return int(pid_file.read_text().strip()) if pid_file is not None else None
    except (OSError, ValueError):
        return None


def postgres_pid(data_dir: Path | None) -> int | None:
    try:
        return (
            int((data_dir / "postmaster.pid").read_text().splitlines()[0]) if data_dir is not None else None
        )
    except (OSError, ValueError, IndexError):
        return None


def uptime() -> str:
    """`uptime`'s line (the load on the box), quoted with every figure."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
