"""helm/tidal: lint, render and validate with the real helm 3.17 and the Kubernetes schemas."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._support import (
    ROOT,
    attempt,
    by_kind,
    check_workloads,
    dashboard_maps,
    documents,
    run,
    tool,
    validate_manifests,
)

CHART = ROOT / "helm" / "tidal"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
VALUE_FILES = sorted((CHART / "ci").glob("*.yaml"))


@pytest.fixture(scope="module")
def helm() -> str:
    return tool("helm")


def render(helm: str, *args: str, chart: Path = CHART) -> list[dict[str, Any]]:
    return documents(run([helm, "template", "tidal", str(chart), "--namespace", "tidal", *args]))


def hooks(obj: dict[str, Any]) -> set[str]:
    value = obj["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    return set(value.split(",")) if value else set()


def test_there_are_production_like_values() -> None:
    assert CHART / "ci" / "production-values.yaml" in VALUE_FILES


@pytest.mark.parametrize("values", [None, *VALUE_FILES], ids=lambda v: v.name if v else "defaults")
def test_lint_strict(helm: str, values: Path | None) -> None:
    run([helm, "lint", "--strict", str(CHART), *(["--values", str(values)] if values else [])])


@pytest.mark.parametrize("values", [None, *VALUE_FILES], ids=lambda v: v.name if v else "defaults")
def test_renders_valid_kubernetes_objects(helm: str, values: Path | None) -> None:
    docs = render(helm, *(["--values", str(values)] if values else []))
    validate_manifests(docs, source=f"helm template ({values.name if values else 'defaults'})")
    check_workloads(docs, source="helm template")


def test_defaults_reference_existing_secrets_and_migrate_in_a_hook(helm: str) -> None:
    docs = render(helm)
    assert not by_kind(docs, "Secret"), "the chart must not create Secrets unless a URL is given inline"
    job = by_kind(docs, "Job")["tidal-migrate"]
    assert hooks(job) == {"pre-install", "pre-upgrade"}
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["migrate"]
    db = {e["name"]: e for e in container["env"]}["TIDAL_DATABASE_URL"]
    assert db["valueFrom"]["secretKeyRef"] == {"name": "tidal-database", "key": "url"}
    for name in ("history", "matching", "timer", "frontend"):
        dep = by_kind(docs, "Deployment")[f"tidal-{name}"]
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["args"] == ["run", name]
        env = {e["name"]: e for e in c["env"]}
        assert env["TIDAL_SHARD_COUNT"]["value"] == "16"
        assert env["TIDAL_AMQP_URL"]["valueFrom"]["secretKeyRef"] == {"name": "tidal-amqp", "key": "url"}
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env, "tracing is off by default"
    # helm test pods: the frontend's readiness always; a workflow only with the example worker.
    tests = [d for d in docs if "test" in hooks(d)]
    assert [t["metadata"]["name"] for t in tests] == ["tidal-test-frontend-ready"]


def test_production_values(helm: str) -> None:
    docs = render(helm, "--values", str(CHART / "ci" / "production-values.yaml"))
    deps = by_kind(docs, "Deployment")
    assert deps["tidal-history"]["spec"]["replicas"] == 4
    assert "replicas" not in deps["tidal-worker"]["spec"], "the HPA owns the worker's replica count"
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["tidal-worker"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 30)
    env = {e["name"]: e for e in deps["tidal-history"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TIDAL_SHARD_COUNT"]["value"] == "64"

    # One RabbitMQ user per service: each reads its own key; the frontend hands workers theirs.
    def amqp_key(deployment: str, var: str = "TIDAL_AMQP_URL") -> str:
        containers = deps[deployment]["spec"]["template"]["spec"]["containers"]
        ref = next(e for e in containers[0]["env"] if e["name"] == var)["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "tidal-rabbitmq"
        return str(ref["key"])

    for service in ("frontend", "history", "matching", "timer"):
        assert amqp_key(f"tidal-{service}") == f"amqp-url-{service}"
    assert amqp_key("tidal-frontend", "TIDAL_WORKER_AMQP_URL") == "amqp-url-worker"
    assert amqp_key("tidal-worker", "TIDAL_WORKER_AMQP_URL") == "amqp-url-worker"
    assert env["TIDAL_CACHE_SIZE"]["value"] == "50000"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"].endswith(":4317")
    assert set(by_kind(docs, "NetworkPolicy")) == {
        "tidal-default-deny-ingress",
        "tidal-frontend-api",
        "tidal-metrics-scrape",
    }
    monitor = by_kind(docs, "ServiceMonitor")["tidal"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"ops", "http", "metrics"}
    assert by_kind(docs, "Service")["tidal-frontend"]["spec"]["type"] == "LoadBalancer"
    tests = sorted(d["metadata"]["name"] for d in docs if "test" in hooks(d))
    assert tests == ["tidal-test-frontend-ready", "tidal-test-workflow"]


def test_inline_urls_become_hook_secrets(helm: str) -> None:
    docs = render(
        helm,
        "--set",
        "rabbitmq.url=amqp://u:p@mq:5672",
        "--set",
        "postgres.url=postgresql+asyncpg://u:p@db/t",
    )
    validate_manifests(docs, source="helm template (inline URLs)")
    secrets = by_kind(docs, "Secret")
    assert secrets["tidal-amqp"]["stringData"] == {"url": "amqp://u:p@mq:5672"}
    # They must exist before the pre-install migration Job runs.
    for secret in secrets.values():
        assert hooks(secret) == {"pre-install", "pre-upgrade"}
        assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "shardCount=0"], "shardCount"),
        (["--set", "services.history.replics=3"], "replics"),
        (["--set", "rabbitmq.existingSecret="], "rabbitmq"),
        (["--set", "logLevel=LOUD"], "logLevel"),
    ],
)
def test_schema_rejects_bad_values(helm: str, args: list[str], message: str) -> None:
    proc = attempt([helm, "template", "tidal", str(CHART), *args])
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


# ---------------------------------------------------------------- dashboards and alert rules
#
# helm/tidal/files/dashboards and files/prometheus are symlinks into deploy/: helm 3.17 follows
# them for lint, template and package (it logs "found symbolic link in path"), so the dashboards
# and alert rules exist once, in deploy/, and the chart ships them.


def test_chart_files_are_symlinks_into_deploy() -> None:
    for link, target in (
        (CHART / "files" / "dashboards", DASHBOARDS),
        (CHART / "files" / "prometheus", ROOT / "deploy" / "prometheus"),
    ):
        assert link.is_symlink(), f"{link} must stay a symlink (a copy would drift)"
        assert link.resolve() == target.resolve()


def test_one_configmap_per_dashboard_in_the_repository(helm: str) -> None:
    expected = sorted(p.name for p in DASHBOARDS.glob("*.json"))  # 0..n
    docs = render(helm)
    maps = list(dashboard_maps(docs).values())
    assert sorted(key for m in maps for key in m["data"]) == expected
    for m in maps:
        ((name, body),) = m["data"].items()
        assert json.loads(body) == json.loads((DASHBOARDS / name).read_text())


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """The chart with symlinks resolved and known dashboards/rules, independent of what deploy/
    holds on this branch."""
    copy = tmp_path / "tidal"
    shutil.copytree(CHART, copy, symlinks=False)
    dashboards = copy / "files" / "dashboards"
    for old in dashboards.glob("*.json"):
        old.unlink()
    for uid in ("tidal-overview", "tidal_history.v2"):
        (dashboards / f"{uid}.json").write_text(json.dumps({"uid": uid, "title": uid, "panels": []}))
    rules = {
        "groups": [
            {
                "name": "tidal",
                "rules": [
                    {
                        "alert": "TidalDown",
                        "expr": 'up{job=~"tidal-.*"} == 0',
                        "for": "1m",
                        "annotations": {"summary": "{{ $labels.instance }} is down"},
                    }
                ],
            }
        ]
    }
    (copy / "files" / "prometheus" / "alerts.yml").write_text(yaml.safe_dump(rules))
    return copy


def test_dashboards_and_rules_render_for_the_operator(helm: str, chart_copy: Path) -> None:
    docs = render(helm, "--set", "prometheusRule.enabled=true", chart=chart_copy)
    validate_manifests(docs, source="helm template (2 dashboards, alert rules)")
    maps = dashboard_maps(docs)
    assert sorted(maps) == ["tidal-dashboard-tidal-history-v2", "tidal-dashboard-tidal-overview"]
    for m in maps.values():
        assert m["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert m["metadata"]["annotations"]["grafana_folder"] == "Tidal"
    rule = by_kind(docs, "PrometheusRule")["tidal"]
    source = yaml.safe_load((chart_copy / "files" / "prometheus" / "alerts.yml").read_text())
    # Same groups, and Prometheus templates ({{ $labels... }}) are passed through, not expanded.
    assert rule["spec"]["groups"] == source["groups"]


def test_no_dashboards_render_no_configmaps(helm: str, chart_copy: Path) -> None:
    for path in (chart_copy / "files" / "dashboards").glob("*.json"):
        path.unlink()
    docs = render(helm, chart=chart_copy)
    assert not by_kind(docs, "ConfigMap")


def test_prometheus_rule_without_rules_file_fails_clearly(helm: str, chart_copy: Path) -> None:
    (chart_copy / "files" / "prometheus" / "alerts.yml").unlink()
    proc = attempt([helm, "template", "tidal", str(chart_copy), "--set", "prometheusRule.enabled=true"])
    assert proc.returncode != 0 and "alerts.yml" in proc.stderr


def test_real_alert_rules_render_when_present(helm: str) -> None:
    if not ALERTS.exists():
        pytest.skip(f"{ALERTS.relative_to(ROOT)} is not on this branch yet (the observability work adds it)")
    docs = render(helm, "--set", "prometheusRule.enabled=true")
    rule = by_kind(docs, "PrometheusRule")["tidal"]
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_package_follows_the_symlinks(helm: str, tmp_path: Path) -> None:
    run([helm, "package", str(CHART), "--destination", str(tmp_path)])
    (archive,) = tmp_path.glob("tidal-*.tgz")
    with tarfile.open(archive) as tgz:
        names = set(tgz.getnames())
    for dashboard in DASHBOARDS.glob("*.json"):
        assert f"tidal/files/dashboards/{dashboard.name}" in names
    if ALERTS.exists():
        assert "tidal/files/prometheus/alerts.yml" in names
    # .helmignore keeps the compose-only Prometheus config and the rule unit tests out.
    assert "tidal/files/prometheus/prometheus.yml" not in names
    assert not any(n.endswith(".test.yml") for n in names)
    assert "tidal/values.schema.json" in names
