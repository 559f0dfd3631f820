"""k8s/: every overlay builds with the real `kubectl kustomize` and validates against the
Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._support import (
    ROOT,
    SERVER_COMPONENTS,
    by_kind,
    check_workloads,
    component,
    documents,
    run,
    tool,
    validate_manifests,
)

K8S = ROOT / "k8s"
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))


@pytest.fixture(scope="module")
def kubectl() -> str:
    return tool("kubectl")


def build(kubectl: str, overlay: Path) -> list[dict[str, Any]]:
    return documents(run([kubectl, "kustomize", str(overlay)]))


def test_overlays_exist() -> None:
    assert {p.name for p in OVERLAYS} >= {"dev", "production"}


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_builds_and_validates(kubectl: str, overlay: Path) -> None:
    docs = build(kubectl, overlay)
    validate_manifests(docs, source=f"k8s/overlays/{overlay.name}")
    check_workloads(docs, source=f"k8s/overlays/{overlay.name}")
    namespaces = {d["metadata"].get("namespace") for d in docs}
    assert len(namespaces) == 1 and None not in namespaces, f"one namespace per overlay, got {namespaces}"
    job = by_kind(docs, "Job")["tidal-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert set(by_kind(docs, "NetworkPolicy")) >= {"tidal-default-deny-ingress", "tidal-frontend-api"}
    assert "tidal-worker" in by_kind(docs, "HorizontalPodAutoscaler")
    # Every secretKeyRef names a Secret the overlay generates (dev) or the operator must create.
    refs = {
        ref["secretKeyRef"]["name"]
        for d in by_kind(docs, "Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
        for ref in (e.get("valueFrom", {}) for e in c.get("env", []))
        if "secretKeyRef" in ref
    }
    generated = set(by_kind(docs, "Secret"))
    if generated:
        assert refs <= generated, f"references {refs - generated} that the overlay does not generate"
        assert {r.rsplit("-", 1)[0] for r in refs} == {"tidal-amqp", "tidal-database"}
    else:
        assert refs == {"tidal-amqp", "tidal-database"}


def test_production_commits_no_secrets_and_monitors(kubectl: str) -> None:
    docs = build(kubectl, K8S / "overlays" / "production")
    assert not by_kind(docs, "Secret"), "production Secrets are created by the operator, never committed"
    assert by_kind(docs, "ServiceMonitor")
    deps = by_kind(docs, "Deployment")
    assert deps["tidal-history"]["spec"]["replicas"] == 3
    assert by_kind(docs, "ConfigMap")["tidal-config"]["data"]["TIDAL_SHARD_COUNT"] == "64"
    for d in deps.values():
        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith("registry.example.com/tidal/") and image.endswith(":0.1.0")


def test_dev_is_self_contained(kubectl: str) -> None:
    docs = build(kubectl, K8S / "overlays" / "dev")
    deps = by_kind(docs, "Deployment")
    assert {"rabbitmq", "postgres"} <= set(deps)
    for name in SERVER_COMPONENTS:
        assert deps[f"tidal-{name}"]["spec"]["replicas"] == 1
    assert {component(s) for s in by_kind(docs, "Secret").values()} == {""}
    assert len(by_kind(docs, "Secret")) == 3


def test_servicemonitor_ports_exist_on_the_services(kubectl: str) -> None:
    docs = build(kubectl, K8S / "overlays" / "production")
    (monitor,) = by_kind(docs, "ServiceMonitor").values()
    wanted = {e["port"] for e in monitor["spec"]["endpoints"]}
    offered = {p["name"] for s in by_kind(docs, "Service").values() for p in s["spec"]["ports"]}
    assert wanted <= offered


def test_kustomizations_list_only_existing_files() -> None:
    for kfile in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kfile.read_text())
        for entry in spec.get("resources", []) + spec.get("components", []):
            assert (kfile.parent / entry).exists(), f"{kfile.relative_to(ROOT)}: {entry} does not exist"
