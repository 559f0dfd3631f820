"""`tidal task-queue describe --task-queue NAME`: backlog and pollers per kind of task."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from .client import Client


def add_parsers(groups: Any) -> None:
    """`groups`: the top-level sub-command group's subparsers."""
    tq = groups.add_parser("task-queue", help="inspect task queues").add_subparsers(
        dest="command", required=True
    )
    describe = tq.add_parser("describe", help="backlog and pollers of a task queue")
    describe.add_argument("--task-queue", "-t", required=True)
    describe.add_argument("--output", choices=("table", "json"), default=argparse.SUPPRESS)


async def run(
    client: Client,
    args: argparse.Namespace,
    emit: Callable[[argparse.Namespace, Any, str], None],
    table: Callable[[Sequence[tuple[Any, ...]], Sequence[str]], str],
) -> int:
    path = (
        f"/api/v1/namespaces/{quote(client.namespace, safe='')}/task-queues/{quote(args.task_queue, safe='')}"
    )
    data = await client._call("GET", path)
    rows = [(kind, data[kind]["backlog"], data[kind]["pollers"]) for kind in ("workflow", "activity")]
    emit(args, data, table(rows, ("Kind", "Backlog", "Pollers")))
    return 0
