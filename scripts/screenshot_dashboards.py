"""Render every Grafana dashboard's panels with real data into PNGs (`make screenshots`).

No Grafana is needed: the script runs the embedded engine in this process with a worker and a
steady workload, lets a private Prometheus (Debian's `prometheus`) scrape the process's
`/metrics` every second, evaluates each panel's queries over the last minutes, draws them as SVG
charts in one HTML page per dashboard, and photographs the pages with headless Chromium (Debian's
`chromium`). Not run in CI.

    uv run python scripts/screenshot_dashboards.py [--out .tidal/screenshots] [--seconds 60]
        [--prometheus URL]   # use a running Prometheus instead (no engine, no workload)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS, GreetingWorkflow  # noqa: E402

DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
COLOURS = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0"]
TASK_QUEUE = "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        sys.exit(f"{binary} not found: apt-get install -y {package}")
    return path


# --------------------------------------------------------------------------- data


@contextlib.contextmanager
def prometheus(target: str, data_dir: Path) -> Iterator[str]:
    port = free_port()
    config = data_dir / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [{"job_name": "tidal", "static_configs": [{"targets": [target]}]}],
            }
        )
    )
    with open(data_dir / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                need("prometheus", "prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def engine_with_workload(metrics_port: int) -> AsyncIterator[None]:
    """The embedded engine (every service and a worker in this process, so one /metrics shows
    them all, served by the services' own ops server) with workflows started continuously."""
    from tidal.testing import WorkflowEnvironment
    from tidal.worker import Worker
    from tidal_server.ops_http import OpsServer

    env = await WorkflowEnvironment.start_local()
    ops = OpsServer(host="127.0.0.1", port=metrics_port, ready=lambda: True)
    await ops.start()
    stop = asyncio.Event()

    async def workload() -> None:
        while not stop.is_set():
            handles = [
                await env.client.start_workflow(
                    GreetingWorkflow.run,
                    "screenshot",
                    id=f"shot-{uuid.uuid4().hex[:10]}",
                    task_queue=TASK_QUEUE,
                )
                for _ in range(20)
            ]
            for h in handles:
                await h.result()

    try:
        async with Worker(
            env.client, task_queue=TASK_QUEUE, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES
        ):
            task = asyncio.create_task(workload())
            try:
                yield
            finally:
                stop.set()
                await task
    finally:
        await ops.stop()
        await env.shutdown()


async def query_range(http: httpx.AsyncClient, prom: str, expr: str, seconds: int) -> list[dict[str, Any]]:
    end = time.time()
    r = await http.get(
        f"{prom}/api/v1/query_range",
        params={"query": expr, "start": end - seconds, "end": end, "step": max(1, seconds // 120)},
        timeout=30,
    )
    body = r.json()
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


# --------------------------------------------------------------------------- drawing


def legend(fmt: str, labels: dict[str, str]) -> str:
    out = fmt
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out or json.dumps(labels) or "value"


def svg_chart(series: list[tuple[str, list[tuple[float, float]]]], unit: str) -> str:
    w, h, pad = 428, 170, 40
    points = [(t, v) for _, pts in series for t, v in pts if math.isfinite(v)]
    if not points:
        return (
            f'<svg width="{w}" height="{h}"><text x="{w / 2}" y="{h / 2}" class="empty">No data</text></svg>'
        )
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    vmax = max(p[1] for p in points) or 1.0
    vmin = min(0.0, min(p[1] for p in points))
    sx = (w - pad - 6) / max(t1 - t0, 1e-9)
    sy = (h - 24) / max(vmax - vmin, 1e-9)
    parts = [f'<svg width="{w}" height="{h}">']
    for i in range(5):
        y = 6 + (h - 24) * i / 4
        value = vmax - (vmax - vmin) * i / 4
        parts.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{w}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{pad - 4}" y="{y + 4:.1f}" class="axis">{fmt_value(value, unit)}</text>')
    for i, (_, pts) in enumerate(series):
        coords = " ".join(
            f"{pad + (t - t0) * sx:.1f},{6 + (vmax - v) * sy:.1f}" for t, v in pts if math.isfinite(v)
        )
        parts.append(f'<polyline points="{coords}" stroke="{COLOURS[i % len(COLOURS)]}" class="line"/>')
    parts.append("</svg>")
    return "".join(parts)


def fmt_value(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v * 1000:.3g}ms" if abs(v) < 1 else f"{v:.3g}s"
    if unit == "percentunit":
        return f"{v * 100:.0f}%"
    if unit == "bytes":
        return f"{v / 2**20:.0f}MiB"
    return f"{v:.3g}"


async def render_dashboard(http: httpx.AsyncClient, prom: str, path: Path, seconds: int) -> tuple[str, str]:
    doc = json.loads(path.read_text())  # noqa: ASYNC240 (a script)
    cells: list[str] = []
    for panel in doc["panels"]:
        if panel["type"] == "row":
            cells.append(f"<h2>{html.escape(panel['title'])}</h2>")
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        series: list[tuple[str, list[tuple[float, float]]]] = []
        for target in panel["targets"]:
            for r in await query_range(http, prom, target["expr"], seconds):
                pts = [(float(t), float(v)) for t, v in r["values"]]
                series.append((legend(target.get("legendFormat", ""), r["metric"]), pts))
        keys = "".join(
            f'<span style="color:{COLOURS[i % len(COLOURS)]}">&#9644; {html.escape(name)}</span> '
            for i, (name, _) in enumerate(series[:6])
        )
        cells.append(
            f'<div class="panel"><div class="title">{html.escape(panel["title"])}</div>'
            f"{svg_chart(series, unit)}<div class='keys'>{keys}</div></div>"
        )
    body = "".join(cells)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ background:#111217; color:#ccccdc; font:12px sans-serif; margin:12px; width:1366px; }}
h1 {{ font-size:18px; margin:0 0 4px; }} h2 {{ font-size:14px; width:100%; margin:10px 0 4px; }}
.wrap {{ display:flex; flex-wrap:wrap; gap:8px; }}
.panel {{ background:#181b1f; border:1px solid #2c3235; padding:6px; width:432px; }}
.title {{ font-weight:bold; margin-bottom:4px; }} .keys {{ height:30px; overflow:hidden; }}
.grid {{ stroke:#2c3235; }} .axis {{ fill:#8e8e8e; font-size:9px; text-anchor:end; }}
.line {{ fill:none; stroke-width:1.6; }} .empty {{ fill:#8e8e8e; text-anchor:middle; }}
</style></head><body><h1>{html.escape(doc["title"])}</h1>
<div>{html.escape(doc.get("description", ""))} (last {seconds} s)</div>
<div class="wrap">{body}</div></body></html>"""
    return doc["uid"], page


def screenshot(page: Path, png: Path, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tidal-chromium-") as profile:
        subprocess.run(
            [
                need("chromium", "chromium"),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size=1392,{height}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


async def render_all(prom: str, out: Path, seconds: int) -> None:
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    async with httpx.AsyncClient() as http:
        for path in sorted(DASHBOARDS.glob("*.json")):
            uid, page = await render_dashboard(http, prom, path, seconds)
            rows = page.count("<h2>")
            html_path = out / f"{uid}.html"
            html_path.write_text(page)
            png = out / f"{uid}.png"
            screenshot(html_path, png, 90 + rows * 290)
            html_path.unlink()
            print(png)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".tidal" / "screenshots")
    parser.add_argument("--seconds", type=int, default=60, help="workload duration and chart window")
    parser.add_argument("--prometheus", help="query this Prometheus instead of running a demo")
    args = parser.parse_args()
    if args.prometheus:
        await render_all(args.prometheus, args.out, args.seconds)
        return
    metrics_port = free_port()
    with tempfile.TemporaryDirectory(prefix="tidal-screenshots-") as tmp:
        async with engine_with_workload(metrics_port):
            with prometheus(f"127.0.0.1:{metrics_port}", Path(tmp)) as prom:
                print(f"workload running; Prometheus at {prom}; waiting {args.seconds} s")
                await asyncio.sleep(args.seconds)  # the data the charts show, not synchronisation
                await render_all(prom, args.out, args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
