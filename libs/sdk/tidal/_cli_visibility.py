"""`tidal workflow list` and `tidal workflow count` (see docs/visibility.md for the query)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from .client import Client

COMMANDS = ("list", "count")


def add_parsers(wf: Any) -> None:
    """`wf`: the `workflow` sub-command group's subparsers."""
    ls = wf.add_parser("list", help="list runs matching a query, newest first")
    ls.add_argument("--query", "-q", default="", help="filter, e.g. \"WorkflowType = 'Order'\"")
    ls.add_argument("--limit", type=int, default=100, help="at most this many runs (default 100; 0: all)")
    count = wf.add_parser("count", help="count runs matching a query")
    count.add_argument("--query", "-q", default="", help="filter, e.g. \"ExecutionStatus = 'Running'\"")
    for sub in (ls, count):
        # Also accepted after the sub-command (`tidal workflow list --output json`).
        sub.add_argument("--output", choices=("table", "json"), default=argparse.SUPPRESS)


async def run(
    client: Client,
    args: argparse.Namespace,
    emit: Callable[[argparse.Namespace, Any, str], None],
    table: Callable[[Sequence[tuple[Any, ...]], Sequence[str]], str],
) -> int:
    if args.command == "count":
        n = (await client.count_workflows(args.query)).count
        emit(args, {"count": n}, str(n))
        return 0
    limit = args.limit if args.limit > 0 else None
    runs = [
        e async for e in client.list_workflows(args.query, limit=limit, page_size=min(limit or 1000, 1000))
    ]
    rows = [
        (
            e.id,
            e.run_id,
            e.workflow_type,
            e.status.value if e.status else "",
            e.start_time.isoformat(timespec="seconds"),
            e.close_time.isoformat(timespec="seconds") if e.close_time else None,
        )
        for e in runs
    ]
    text = table(rows, ("Workflow ID", "Run ID", "Type", "Status", "Started", "Closed"))
    emit(args, [e.raw for e in runs], text)
    return 0
