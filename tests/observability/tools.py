"""Shared helpers of the observability tests: the Debian `prometheus` package's binaries, the
queries of the dashboards and the metric names they use."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
INSTALL_HINT = (
    "install Debian's prometheus package (promtool + server): printf '#!/bin/sh\\nexit 101\\n' > "
    "/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; apt-get install -y prometheus; "
    "rm /usr/sbin/policy-rc.d"
)

# Metrics the dashboards take from RabbitMQ's rabbitmq_prometheus plugin (aggregated mode), as
# RabbitMQ 3.10 exports them; the tests' private broker runs without the plugin.
RABBITMQ_METRICS = frozenset(
    {
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "rabbitmq_channel_messages_published_total",
        "rabbitmq_channel_messages_delivered_ack_total",
        "rabbitmq_channel_messages_confirmed_total",
        "rabbitmq_channel_messages_redelivered_total",
        "rabbitmq_connections",
        "rabbitmq_channels",
        "rabbitmq_queues",
        "rabbitmq_consumers",
        "rabbitmq_process_resident_memory_bytes",
        "rabbitmq_resident_memory_limit_bytes",
        "rabbitmq_disk_space_available_bytes",
        "rabbitmq_disk_space_available_limit_bytes",
    }
)

_METRIC = re.compile(r"\b((?:tidal|rabbitmq)_[a-z0-9_]+)\b")


def binary(name: str) -> str:
    """The path of a prometheus-package binary; without it, skip locally and fail in CI."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if found:
        return found
    message = f"{name} is missing: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def dashboard_queries() -> dict[str, list[str]]:
    """Dashboard file name -> every PromQL expression of its panels."""
    out: dict[str, list[str]] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        doc = json.loads(path.read_text())
        out[path.name] = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    return out


def metric_names(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


def exposed_names(exposition: str) -> set[str]:
    """Every metric name a /metrics page offers: sample names, and the families it declares
    (a labelled family with no children yet has only its HELP/TYPE lines)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            if kind == "histogram":
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def promtool_check_metrics(exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
    )
