"""`tidal`: the command line for workflows, over the frontend's HTTP API.

    tidal workflow start --type HelloWorkflow --task-queue hello --id hello-1 --input '"you"'
    tidal workflow result --id hello-1
    tidal workflow show --id hello-1
    tidal workflow list --query "WorkflowType = 'HelloWorkflow' AND ExecutionStatus = 'Running'"
    tidal workflow count --query "ExecutionStatus = 'Completed'"
    tidal workflow query --id cart-1 --name contents
    tidal workflow update --id cart-1 --name add --input '"pear"'
    tidal task-queue describe --task-queue hello
    tidal schedule create -s nightly --cron '0 2 * * *' --type Report --task-queue reports -w report
    tidal schedule describe -s nightly

    tidal namespace create --name payments --retention-days 7
    tidal namespace list

The address comes from --address or TIDAL_ADDRESS (default http://127.0.0.1:7243), the namespace
from --namespace or TIDAL_NAMESPACE, the API key (servers with auth on) from --api-key or
TIDAL_API_KEY. Human-readable tables by default, `--output json` for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import _cli_schedule, _cli_task_queue, _cli_visibility
from .client import Client
from .exceptions import RPCError, TidalError, WorkflowFailureError

__all__ = [
    "main",
]

EXIT_ERROR = 1


def _table(rows: Sequence[tuple[Any, ...]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header], *[[("" if c is None else str(c)) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.output == "json" else text)


def _json_values(raw: Sequence[str]) -> list[Any]:
    values = []
    for item in raw:
        try:
            values.append(json.loads(item))
        except json.JSONDecodeError as exc:
            raise SystemExit(
                f"tidal: --input {item!r} is not JSON ({exc.msg}); quote strings: --input '\"text\"'"
            ) from None
    return values


async def _run(args: argparse.Namespace) -> int:
    # A person at a terminal wants a quick answer when the server is down, not 30 s of retries;
    # lazy: the command's own call is the first, and its error is reported like any other.
    client = await Client.connect(
        args.address,
        namespace=args.namespace,
        api_key=args.api_key or None,
        rpc_retry_seconds=2.0,
        lazy=True,
    )
    try:
        if args.group == "namespace":
            return await _namespace(client, args)
        if args.group == "schedule":
            return await _cli_schedule.run(client, args, _emit, _table)
        if args.group == "task-queue":
            return await _cli_task_queue.run(client, args, _emit, _table)
        if args.command in _cli_visibility.COMMANDS:
            return await _cli_visibility.run(client, args, _emit, _table)
        handle = client.get_workflow_handle(args.id, run_id=getattr(args, "run_id", None))
        if args.command == "start":
            handle = await client.start_workflow(
                args.type, args=_json_values(args.input), id=args.id, task_queue=args.task_queue
            )
            _emit(
                args,
                {"workflow_id": handle.id, "run_id": handle.run_id},
                f"Started workflow {handle.id} (run {handle.run_id})",
            )
        elif args.command == "describe":
            d = await handle.describe()
            rows: list[tuple[Any, ...]] = [
                ("Workflow ID", d.id),
                ("Run ID", d.run_id),
                ("Type", d.workflow_type),
                ("Task queue", d.task_queue),
                ("Status", d.status.value if d.status else ""),
                ("Started", d.start_time),
                ("Closed", d.close_time),
                ("History length", d.history_length),
            ]
            _emit(args, d.raw, _table(rows, ("Field", "Value")))
        elif args.command == "result":
            try:
                value = await handle.result()
            except WorkflowFailureError as exc:
                _emit(args, {"status": "failed", "error": str(exc.cause)}, f"Workflow failed: {exc.cause}")
                return EXIT_ERROR
            _emit(args, {"result": value}, json.dumps(value, default=str))
        elif args.command == "show":
            history = await handle.fetch_history()
            rows = [
                (e.event_id, e.event_time.isoformat(timespec="milliseconds"), e.event_type)
                for e in history.events
            ]
            _emit(
                args,
                [e.model_dump(mode="json") for e in history.events],
                _table(rows, ("ID", "Time", "Type")),
            )
        elif args.command == "signal":
            await handle.signal(args.name, args=_json_values(args.input))
            _emit(args, {"signaled": args.id}, f"Signaled {args.id} with {args.name}")
        elif args.command == "terminate":
            await handle.terminate(reason=args.reason)
            _emit(args, {"terminated": args.id}, f"Terminated {args.id}")
        elif args.command == "cancel":
            await handle.cancel()
            _emit(args, {"cancel_requested": args.id}, f"Requested cancellation of {args.id}")
        elif args.command == "query":
            value = await handle.query(args.name, args=_json_values(args.input))
            _emit(args, {"result": value}, json.dumps(value, default=str))
        elif args.command == "update":
            value = await handle.execute_update(args.name, args=_json_values(args.input))
            _emit(args, {"result": value}, json.dumps(value, default=str))
        return 0
    finally:
        await client.close()


_NS_FIELDS = ("name", "state", "retention_days", "description", "created_at")


async def _namespace(client: Client, args: argparse.Namespace) -> int:
    # The namespaces API has no SDK wrapper (as in temporalio, where it is an operator service).
    base = "/api/v1/namespaces"
    if args.command == "list":
        found = (await client._call("GET", base))["namespaces"]
        rows = [tuple(n[f] for f in _NS_FIELDS) for n in found]
        _emit(args, found, _table(rows, ("Name", "State", "Retention (days)", "Description", "Created")))
        return 0
    name = args.name or args.namespace
    path = f"{base}/{name}"
    if args.command == "create":
        body: dict[str, Any] = {"name": name, "description": args.description or ""}
        if args.retention_days is not None:
            body["retention_days"] = args.retention_days
        ns = await client._call("POST", base, json=body)
    elif args.command == "update":
        changes: dict[str, Any] = {}
        if args.description is not None:
            changes["description"] = args.description
        if args.retention_days is not None:
            changes["retention_days"] = args.retention_days
        ns = await client._call("PATCH", path, json=changes)
    elif args.command == "deprecate":
        ns = await client._call("DELETE", path)
    else:
        ns = await client._call("GET", path)
    rows2 = [(f.replace("_", " ").capitalize(), ns[f]) for f in _NS_FIELDS]
    _emit(args, ns, _table(rows2, ("Field", "Value")))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tidal", description="Tidal command line (workflows over the HTTP API)")
    p.add_argument("--address", default=os.environ.get("TIDAL_ADDRESS", "http://127.0.0.1:7243"))
    p.add_argument("--namespace", default=os.environ.get("TIDAL_NAMESPACE", "default"))
    p.add_argument(
        "--api-key",
        default=os.environ.get("TIDAL_API_KEY", ""),
        help="API key for servers with auth on (default: TIDAL_API_KEY)",
    )
    p.add_argument("--output", choices=("table", "json"), default="table")
    groups = p.add_subparsers(dest="group", required=True)
    ns = groups.add_parser("namespace", help="create, describe, list, update namespaces").add_subparsers(
        dest="command", required=True
    )
    ns.add_parser("list", help="the namespaces this key may read")
    for name, helptext in (
        ("create", "create a namespace"),
        ("describe", "show a namespace"),
        ("update", "change description or retention"),
        ("deprecate", "refuse new starts in a namespace (nothing is deleted)"),
    ):
        sub = ns.add_parser(name, help=helptext)
        sub.add_argument("--name", "-n", default=None, help="namespace (default: --namespace)")
        if name in ("create", "update"):
            sub.add_argument("--description", default=None)
            sub.add_argument("--retention-days", type=int, default=None)
    wf = groups.add_parser("workflow", help="start and inspect workflows").add_subparsers(
        dest="command", required=True
    )
    start = wf.add_parser("start", help="start a workflow")
    start.add_argument("--type", required=True, help="workflow type name")
    start.add_argument("--task-queue", required=True)
    start.add_argument("--input", action="append", default=[], help="one JSON argument (repeatable)")
    sig = wf.add_parser("signal", help="send a signal")
    sig.add_argument("--name", required=True)
    sig.add_argument("--input", action="append", default=[], help="one JSON argument (repeatable)")
    term = wf.add_parser("terminate", help="terminate a running workflow")
    term.add_argument("--reason", default="")
    for name, helptext in (("query", "ask a running or closed workflow"), ("update", "send an update")):
        sub = wf.add_parser(name, help=helptext)
        sub.add_argument("--name", required=True, help=f"{name} name")
        sub.add_argument("--input", action="append", default=[], help="one JSON argument (repeatable)")
    for name, helptext in (
        ("describe", "status of a run"),
        ("result", "wait for and print the result"),
        ("show", "print the event history"),
        ("cancel", "ask a running workflow to cancel (it decides how to end)"),
    ):
        wf.add_parser(name, help=helptext)
    for sub in wf.choices.values():
        sub.add_argument("--id", "-w", required=True, help="workflow id")
        if sub.prog.split()[-1] != "start":
            sub.add_argument("--run-id", "-r", default=None)
    _cli_visibility.add_parsers(wf)  # after the loop above: list/count take no --id
    _cli_task_queue.add_parsers(groups)
    _cli_schedule.add_parsers(groups)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except RPCError as exc:
        print(f"tidal: error: {exc} ({exc.status})", file=sys.stderr)
    except TidalError as exc:
        print(f"tidal: error: {exc}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
