"""The Dockerfile, checked structurally (no Docker engine here to build it): stages, non-root
user, health check, entry points, and that everything it copies is in the build context."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy._support import ROOT

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse(text: str) -> list[Stage]:
    """Instructions per stage: continuation lines joined, comments and parser directives dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[Stage] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name=name, base=parts[0]))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return {s.name: s for s in parse(DOCKERFILE.read_text())}


def effective(stages: dict[str, Stage], name: str, keyword: str) -> str | None:
    """An instruction's value in a stage, inherited along its FROM chain."""
    stage = stages[name]
    value = stage.last(keyword)
    if value is None and stage.base in stages:
        return effective(stages, stage.base, keyword)
    return value


def test_multi_stage_with_server_last(stages: dict[str, Stage]) -> None:
    names = list(stages)
    assert {"build", "runtime", "worker", "server"} <= set(names)
    assert names[-1] == "server", "`docker build .` must build the server image"
    # The runtime image takes only the venv from the build stage: no uv, no sources, no compilers.
    runtime = stages["runtime"]
    copies = runtime.all("COPY")
    assert any(c.startswith("--from=build /opt/tidal") for c in copies)
    assert not any("--from=uv" in c for c in copies)
    assert "slim" in runtime.base


def test_runs_as_a_numeric_non_root_user(stages: dict[str, Stage]) -> None:
    for name in ("server", "worker"):
        user = effective(stages, name, "USER")
        assert user is not None, name
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{name}: USER {user} (numeric, so runAsNonRoot can check it)"


def test_entry_points(stages: dict[str, Stage]) -> None:
    assert json.loads(effective(stages, "server", "ENTRYPOINT") or "null") == ["tidal-server"]
    worker = json.loads(effective(stages, "worker", "ENTRYPOINT") or "null")
    assert worker[-1].endswith("/worker.py")


def test_health_check(stages: dict[str, Stage]) -> None:
    check = effective(stages, "server", "HEALTHCHECK")
    assert check is not None and "CMD" in check
    command = json.loads(check[check.index("CMD") + 3 :].strip())
    script = command[-1]
    copied = [shlex.split(c) for c in stages["runtime"].all("COPY")]
    assert any(c[-1] == script and (ROOT / c[0]).is_file() for c in copied), f"{script} is not copied in"


def test_lock_file_is_frozen_and_dev_deps_excluded(stages: dict[str, Stage]) -> None:
    runs = " ".join(stages["build"].all("RUN"))
    assert runs.count("uv sync --frozen --no-dev") == 2
    assert "--no-editable" in runs


def test_every_workspace_member_is_in_the_dependency_layer(stages: dict[str, Stage]) -> None:
    """`uv sync --no-install-workspace` needs every member's pyproject.toml; a new service or
    library must be added to the Dockerfile."""
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    members = {p.parent.relative_to(ROOT) for g in workspace for p in ROOT.glob(f"{g}/pyproject.toml")}
    copied = {Path(shlex.split(c)[0]).parent for c in stages["build"].all("COPY") if "pyproject.toml" in c}
    assert members <= copied, f"not copied: {sorted(map(str, members - copied))}"


def _ignored(path: str, patterns: list[str]) -> bool:
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        candidates = [pat, pat.removeprefix("**/")]
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, c) for p in prefixes for c in candidates) or any(
            fnmatch.fnmatch(part, pat.removeprefix("**/")) for part in parts if pat.startswith("**/")
        ):
            verdict = not negate
    return verdict


def test_copied_sources_exist_and_are_not_dockerignored(stages: dict[str, Stage]) -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for stage in stages.values():
        for copy in stage.all("COPY"):
            args = [a for a in shlex.split(copy) if not a.startswith("--")]
            if copy.startswith("--from="):
                continue
            for source in args[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert not _ignored(source.rstrip("/"), patterns), f"COPY {source}: excluded by .dockerignore"
    # Secrets and bulky local state stay out of the context.
    for path in (".git", ".venv", ".tools", ".env", "tests"):
        assert _ignored(path, patterns), f"{path} should be in .dockerignore"


def _healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tidal_healthcheck", ROOT / "deploy/docker/healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("env", "args", "url"),
    [
        ({"TIDAL_HEALTHCHECK_URL": "http://x/readyz", "TIDAL_METRICS_PORT": "9101"}, [], "http://x/readyz"),
        ({"TIDAL_METRICS_PORT": "9101"}, ["tidal-server", "run", "history"], "http://127.0.0.1:9101/healthz"),
        ({}, ["tidal-server", "run", "frontend"], "http://127.0.0.1:7243/healthz"),
        ({"TIDAL_HTTP_PORT": "8080"}, ["tidal-server", "run", "frontend"], "http://127.0.0.1:8080/healthz"),
        ({"TIDAL_WORKER_METRICS_PORT": "9104"}, ["python", "worker.py"], "http://127.0.0.1:9104/metrics"),
        ({}, ["tidal-server", "migrate"], None),
    ],
)
def test_healthcheck_target(env: dict[str, str], args: list[str], url: str | None) -> None:
    assert _healthcheck_module().target_url(env, args) == url
