"""The alert rules and dashboards are valid without a running stack: promtool checks and unit-tests
the rules, and parses every dashboard query (wrapped as recording rules)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.observability import tools


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tools.binary("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    check = _promtool("check", "rules", str(tools.ALERTS))
    assert check.returncode == 0, check.stdout + check.stderr
    test = _promtool("test", "rules", tools.ALERT_TESTS.name, cwd=tools.ALERT_TESTS.parent)
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    queries = tools.dashboard_queries()
    assert {"overview.json", "history.json", "matching.json", "timer.json", "frontend.json"} <= set(queries)
    assert {"workers.json", "infrastructure.json"} <= set(queries)
    rules = {
        "groups": [
            {
                "name": name.removesuffix(".json"),
                "rules": [{"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(exprs)],
            }
            for name, exprs in queries.items()
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps(rules, indent=1))  # JSON is YAML: no YAML library needed
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_use_the_prometheus_datasource_and_are_generated() -> None:
    # Loaded by path: `deploy` is not a package, and `tests.deploy` may already own the name.
    spec = importlib.util.spec_from_file_location("tidal_dashboards", tools.DASHBOARDS / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = generate  # its dataclasses look their module up while being built
    spec.loader.exec_module(generate)

    for d in generate.DASHBOARDS:
        path = tools.DASHBOARDS / f"{d.uid.removeprefix('tidal-')}.json"
        on_disk = json.loads(path.read_text())
        assert on_disk == json.loads(json.dumps(generate.render(d))), (
            f"{path.name} is stale: run `uv run python deploy/grafana/dashboards/generate.py`"
        )
        for panel in on_disk["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
                assert panel["targets"], panel["title"]


def test_rabbitmq_metrics_are_only_those_listed() -> None:
    used = {m for exprs in tools.dashboard_queries().values() for e in exprs for m in tools.metric_names(e)}
    rabbit = {m for m in used if m.startswith("rabbitmq_")}
    assert rabbit <= tools.RABBITMQ_METRICS, rabbit - tools.RABBITMQ_METRICS
