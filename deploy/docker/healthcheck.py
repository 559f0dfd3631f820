"""Container health check for the Tidal image (Docker HEALTHCHECK, compose `healthcheck`).

Which endpoint answers depends on what the container runs, so this looks at the environment and
at PID 1's command line:
- `TIDAL_HEALTHCHECK_URL`, if set, wins;
- a service with an ops server (`TIDAL_METRICS_PORT`): `/healthz` on that port;
- the frontend (`tidal-server run frontend`): `/healthz` on `TIDAL_HTTP_PORT` (default 7243);
- an SDK worker (`TIDAL_WORKER_METRICS_PORT`): `/metrics` on that port;
- anything else (e.g. `tidal-server migrate`): healthy, there is nothing to ask.
Exit status 0 = healthy, 1 = unhealthy. Standard library only: it runs with the image's Python.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def _pid1_args() -> list[str]:
    try:
        return Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def target_url(env: dict[str, str], args: list[str]) -> str | None:
    if url := env.get("TIDAL_HEALTHCHECK_URL"):
        return url
    if port := env.get("TIDAL_METRICS_PORT"):
        return f"http://127.0.0.1:{port}/healthz"
    if "run" in args and "frontend" in args:
        return f"http://127.0.0.1:{env.get('TIDAL_HTTP_PORT', '7243')}/healthz"
    if port := env.get("TIDAL_WORKER_METRICS_PORT"):
        return f"http://127.0.0.1:{port}/metrics"
    return None


def main() -> int:
    url = target_url(dict(os.environ), _pid1_args())
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=2.5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
