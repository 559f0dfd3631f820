"""`make dev` runs examples/dev.py: the embedded engine plus a sample worker prints a result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dev_sample_prints_a_workflow_result_and_keeps_its_database(tmp_path: Path) -> None:
    db = tmp_path / "dev.sqlite3"
    for _ in range(2):  # the second run reuses the database the first one left behind
        proc = subprocess.run(
            [sys.executable, "examples/dev.py", "--once", "--port", "0", "--db", str(db)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "returned 'Hello, Tidal!'" in proc.stdout
    assert db.exists()
