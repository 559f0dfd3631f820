"""scripts/fetch-tools.sh and scripts/bootstrap.sh: syntax, help, and the idempotent fast path
that `make test` takes on every run."""

from __future__ import annotations

import os
import time

import pytest

from tests.deploy._support import ROOT, TOOLS_BIN, attempt, run

SCRIPTS = ("scripts/bootstrap.sh", "scripts/fetch-tools.sh")


@pytest.mark.parametrize("script", SCRIPTS)
def test_syntax_and_help(script: str) -> None:
    run(["bash", "-n", script])
    assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"
    out = run([script, "--help"])
    assert "Idempotent" in out
    assert attempt([script, "--no-such-option"]).returncode == 2


def test_fetch_tools_is_a_fast_no_op_when_present() -> None:
    if not (TOOLS_BIN / "helm").exists():
        pytest.skip("tools not fetched yet (scripts/fetch-tools.sh)")
    began = time.monotonic()
    proc = attempt(["scripts/fetch-tools.sh"])
    assert proc.returncode == 0, proc.stderr
    assert "present" in proc.stderr and "downloading" not in proc.stderr
    assert time.monotonic() - began < 20


def test_tools_are_ignored_by_git() -> None:
    proc = attempt(["git", "check-ignore", "-q", ".tools/bin/helm"])
    assert proc.returncode == 0, ".tools/ must be gitignored (it holds ~115 MB of binaries)"
