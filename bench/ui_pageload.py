"""Web UI page loads with many runs in the namespace, in a real browser.

    uv run python bench/ui_pageload.py [--rows 100000] [--repeat 15]

Starts private RabbitMQ and Postgres servers, migrates, bulk-inserts ROWS closed runs (plus 1%
running) into `default` with bench/visibility.py's `fill` (the rows history writes to
`executions` and `search_attribute_values`, by INSERT ... SELECT: 100,000 in about 5 s), starts
the four services and a worker, runs a real OrderWorkflow and a real workflow of about 2,000
events (650 activities), creates 25 paused schedules, then loads each page in Debian's chromium
(Playwright) from a blank tab: the time from navigation until the page shows its data (the
list with every status count; the workflow page with its timeline; the task queue and schedule
tables), by the page's own clock (a `tidal:ready` performance mark), its API time, and the time
until the network is idle; then each page's API calls alone (httpx). Prints `uptime` with the
figures (the box may be shared). The issue's bar: under 300 ms. Results:
bench/results/ui_pageload.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
import urllib.parse
from typing import Any

from common import ROOT  # also puts the repo root on sys.path
from tidal.client import Client
from tidal.worker import Worker
from tidal_server.db import create_engine
from visibility import fill

from tests.support import ui_workflows as uw
from tests.support.servers import running_servers
from tests.support.stack import SERVICES, Stack

TARGET_MS = 300.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


# Ready time, and how long the API calls took in total (their spans merged, as they overlap).
_READY_JS = """() => {
  const ready = performance.getEntriesByName("tidal:ready")[0].startTime;
  const spans = performance.getEntriesByType("resource")
    .filter((r) => r.name.includes("/api/v1/") && r.startTime < ready)
    .map((r) => [r.startTime, r.responseEnd]).sort((a, b) => a[0] - b[0]);
  let total = 0, end = -1;
  for (const [s, e] of spans) { if (e > end) { total += e - Math.max(s, end); end = e; } }
  return [ready, total];
}"""


LIST_QUERIES = {
    "type": "WorkflowType = 'Order'",
    "attribute": "CustomerId = 'c-9190'",
    # One hour of the seeded range (runs start a second apart from 2026-01-01T00:00Z).
    "time range": "StartTime BETWEEN '2026-01-01T10:00:00Z' AND '2026-01-01T11:00:00Z'",
}
SCHEDULES = 25
LONG_ACTIVITIES, LONG_BATCH = 650, 50  # about 2,000 events


def _q(query: str) -> str:
    return urllib.parse.quote(query, safe="")


def _pages(address: str, short_id: str, long_id: str, long_events: int) -> list[tuple[str, str, str]]:
    """(name, url, selector shown once the page has its data)."""
    base = f"{address}/ui/#/namespaces/default"
    loaded = "#loaded-at:not(:empty)"
    return [
        ("list, all runs (first page + grouped count)", f"{base}/workflows", loaded),
        (f"list, {LIST_QUERIES['type']}", f"{base}/workflows?query={_q(LIST_QUERIES['type'])}", loaded),
        ("list, status chip Failed", f"{base}/workflows?status=Failed", loaded),
        (
            f"list, {LIST_QUERIES['attribute']}",
            f"{base}/workflows?query={_q(LIST_QUERIES['attribute'])}",
            loaded,
        ),
        (
            "list, StartTime BETWEEN (1 hour)",
            f"{base}/workflows?query={_q(LIST_QUERIES['time range'])}",
            loaded,
        ),
        ("workflow page (Order, ~35 events)", f"{base}/workflows/{short_id}", "#timeline svg"),
        (f"workflow page ({long_events:,} events)", f"{base}/workflows/{long_id}", "#timeline svg"),
        ("task queues (list)", f"{base}/task-queues", "#task-queue-table"),
        (f"schedules ({SCHEDULES})", f"{base}/schedules", "#schedules table"),
    ]


def _summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
        "max_ms": round(samples[-1], 1),
    }


async def measure(pages: list[tuple[str, str, str]], repeat: int) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    results = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        for name, url, ready in pages:
            samples, api_ms, idle_ms = [], [], []
            for i in range(repeat + 2):  # two warm-ups
                await page.goto("about:blank")
                t = time.perf_counter()
                await page.goto(url)
                await page.wait_for_selector(ready, timeout=30_000)
                # The page's own clock: from navigation start to the moment it showed its data
                # (the `tidal:ready` mark), without the test driver's round trips.
                ready_ms, api = await page.evaluate(_READY_JS)
                # And the driver's: until the network is idle (500 ms without a request; the
                # pages refresh every 2-5 s, so they do get there), less that quiet time.
                await page.wait_for_load_state("networkidle")
                idle = (time.perf_counter() - t) * 1000 - 500
                if i >= 2:
                    samples.append(ready_ms)
                    api_ms.append(api)
                    idle_ms.append(idle)
            results.append(
                {
                    "page": name,
                    **_summary(samples),
                    "api_p50_ms": round(statistics.median(api_ms), 1),
                    "network_idle_p50_ms": round(statistics.median(idle_ms), 1),
                }
            )
        await browser.close()
    return results


async def measure_api(
    address: str, short_id: str, long_id: str, long_events: int, repeat: int
) -> list[dict[str, Any]]:
    """The API calls behind each page alone (what the server spends, without the browser); a
    page's calls run in parallel in the browser, so its API time is about the slowest one."""
    import httpx

    ns = f"{address}/api/v1/namespaces/default"
    grouped = "GROUP BY ExecutionStatus"
    calls: list[tuple[str, str, dict[str, str]]] = [
        ("first page (50)", f"{ns}/workflows", {"page_size": "50"}),
        ("count GROUP BY ExecutionStatus", f"{ns}/workflow-count", {"query": grouped}),
        ("first page, Failed", f"{ns}/workflows", {"page_size": "50", "query": "ExecutionStatus = 'Failed'"}),
    ]
    for name, query in LIST_QUERIES.items():
        calls.append((f"first page, {name}", f"{ns}/workflows", {"page_size": "50", "query": query}))
        calls.append((f"count, {name}, GROUP BY", f"{ns}/workflow-count", {"query": f"{query} {grouped}"}))
    calls += [
        ("describe (long run)", f"{ns}/workflows/{long_id}", {}),
        (
            f"history page 1 (1,000) of {long_events:,}",
            f"{ns}/workflows/{long_id}/history",
            {"page_size": "1000"},
        ),
        ("result (long run)", f"{ns}/workflows/{long_id}/result", {}),
        ("describe (Order)", f"{ns}/workflows/{short_id}", {}),
        ("history (Order)", f"{ns}/workflows/{short_id}/history", {"page_size": "1000"}),
        ("result (Order)", f"{ns}/workflows/{short_id}/result", {}),
        ("task queues list", f"{ns}/task-queues", {}),
        ("schedules list (50)", f"{ns}/schedules", {"page_size": "50"}),
    ]
    out = []
    async with httpx.AsyncClient(timeout=30) as http:
        out += await _history_ab(http, f"{ns}/workflows/{long_id}/history", long_events, repeat)
        for name, url, params in calls:
            samples = []
            for i in range(repeat + 2):
                t = time.perf_counter()
                (await http.get(url, params=params)).raise_for_status()
                if i >= 2:
                    samples.append((time.perf_counter() - t) * 1000)
            out.append({"call": name, **_summary(samples)})
    return out


async def _history_ab(http: Any, url: str, events: int, repeat: int) -> list[dict[str, Any]]:
    """The whole long history as the workflow page reads it: pages of 1,000 one after another
    (keyset tokens from each answer) against all at once (event ids are contiguous, so describe's
    length gives every page's token), interleaved so both see the same load."""
    afters = list(range(0, events, 1000))

    async def page(after: int) -> int:
        params = {"page_size": "1000", **({"next_page_token": str(after)} if after else {})}
        r = await http.get(url, params=params)
        r.raise_for_status()
        return len(r.json()["events"])

    async def one_by_one() -> int:
        return sum([await page(a) for a in afters])

    async def at_once() -> int:
        return sum(await asyncio.gather(*(page(a) for a in afters)))

    samples: dict[str, list[float]] = {"one by one": [], "at once": []}
    for i in range(repeat + 2):
        for name, fn in (("one by one", one_by_one), ("at once", at_once)):
            t = time.perf_counter()
            assert await fn() == events
            if i >= 2:
                samples[name].append((time.perf_counter() - t) * 1000)
    return [
        {"call": f"history {events:,} events, {len(afters)} pages {name}", **_summary(v)}
        for name, v in samples.items()
    ]


async def _create_schedules(address: str) -> None:
    """Paused schedules (they start nothing while the pages are timed), as the schedules page
    lists them."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as http:
        for i in range(SCHEDULES):
            body = {
                "schedule_id": f"bench-{i:03d}",
                "spec": {"intervals": [{"every": 3600 + i}], "cron_expressions": ["0 9 * * MON-FRI"]},
                "action": {
                    "workflow_type": "OrderWorkflow",
                    "workflow_id": f"bench-{i}",
                    "task_queue": uw.TASK_QUEUE,
                },
                "state": {"paused": True, "note": "bench"},
            }
            (await http.post(f"{address}/api/v1/namespaces/default/schedules", json=body)).raise_for_status()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with running_servers() as servers:
        stack = Stack(amqp_url=servers.rabbitmq.url, database_url=servers.postgres.url)
        stack.migrate()
        engine = create_engine(servers.postgres.url)
        seconds = await fill(engine, args.rows)
        await engine.dispose()
        print(f"inserted {args.rows:,} runs in {seconds:.1f}s", flush=True)
        try:
            for name in SERVICES:
                stack.start(name)
            await stack.wait_ready()
            client = await Client.connect(stack.address)
            async with Worker(
                client, task_queue=uw.TASK_QUEUE, workflows=uw.ALL_WORKFLOWS, activities=uw.ALL_ACTIVITIES
            ):
                handle = await client.start_workflow(
                    uw.OrderWorkflow.run, "P-1", id="ui-bench-order", task_queue=uw.TASK_QUEUE
                )
                await handle.signal(uw.OrderWorkflow.approve, "bench")
                await handle.result()
                t = time.perf_counter()
                await client.execute_workflow(
                    uw.LongHistoryWorkflow.run,
                    args=[LONG_ACTIVITIES, LONG_BATCH],
                    id="ui-bench-long",
                    task_queue=uw.TASK_QUEUE,
                )
                long_events = (await client.get_workflow_handle("ui-bench-long").describe()).history_length
                print(
                    f"ran a workflow of {long_events:,} events in {time.perf_counter() - t:.1f}s", flush=True
                )
                await _create_schedules(stack.address)
                print(f"before: {_uptime()}", flush=True)
                pages = _pages(stack.address, "ui-bench-order", "ui-bench-long", long_events)
                results = await measure(pages, args.repeat)
                api_results = await measure_api(
                    stack.address, "ui-bench-order", "ui-bench-long", long_events, args.repeat
                )
                after = _uptime()
        finally:
            stack.stop_all()
    load = [f"{x:.1f}" for x in os.getloadavg()]
    out = {
        "rows": args.rows,
        "target_ms": TARGET_MS,
        "loadavg": load,
        "uptime": after,
        "long_history_events": long_events,
        "pages": results,
        "api": api_results,
    }
    path = ROOT / "bench" / "results" / "ui_pageload.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(
        f"{'page (browser, to data shown)':50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        f" {'API p50':>8} {'idle p50':>8}"
    )
    for r in results:
        print(
            f"{r['page']:50} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f}"
            f" {r['api_p50_ms']:8.1f} {r['network_idle_p50_ms']:8.1f}"
        )
    print(f"{'API call alone':50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for a in api_results:
        print(f"{a['call']:50} {a['p50_ms']:8.1f} {a['p95_ms']:8.1f} {a['max_ms']:8.1f}")
    print(f"uptime at the end: {after}")
    print(f"results: {path}")
    return 0 if all(r["p95_ms"] < TARGET_MS for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
