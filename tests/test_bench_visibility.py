"""The visibility benchmark still runs (small and untimed: the timing is `make bench`'s job)."""

from __future__ import annotations

import sys

from tests.support.stack import ROOT


async def test_visibility_bench_smoke(fresh_database_url: str) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import visibility
    finally:
        sys.path.remove(str(ROOT / "bench"))
    res = await visibility.measure(fresh_database_url, rows=2000, repeat=2)
    by_name = {q["name"]: q for q in res["queries"]}
    assert len(by_name) == len(visibility.QUERIES) + 1
    assert by_name["baseline: unfiltered first page"]["returned"] == visibility.PAGE
    assert by_name["CustomerId only"]["returned"] >= 1
    assert res["count"]["matches"] > 0
    assert "every list query p95" in visibility.report(res)
