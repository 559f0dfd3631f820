"""The `tidal-server search-attribute` sub-command's parser. Import-light on purpose (argparse
only), like the rest of the CLI, so `--help` answers at once; the work is in
`tidal_server.visibility.admin`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

# Mirrors tidal_server.visibility.SearchAttributeType (a test keeps them equal).
TYPES = ("Keyword", "Text", "Int", "Double", "Bool", "Datetime")


def add_parser(sub: Any, database_url_help: str) -> None:
    group = sub.add_parser("search-attribute", help="register and list custom search attribute types")
    actions = group.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register a custom search attribute's type before first use")
    add.add_argument("--name", required=True)
    add.add_argument("--type", required=True, choices=TYPES)
    ls = actions.add_parser("list", help="system and registered custom search attributes")
    for p in (add, ls):
        p.add_argument("--namespace", default="default")
        p.add_argument("--database-url", help=database_url_help)
    group.set_defaults(func=_command, default_format="text")


def _command(args: argparse.Namespace) -> int:
    from .visibility.admin import run_command

    return asyncio.run(run_command(args))
