"""`tidal-server search-attribute add|list`: registering a type ahead of first use (Text)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite
from tidal_server import cli
from tidal_server.db import DEFAULT_NAMESPACE, create_engine, executions, migrate
from tidal_server.visibility import SearchAttributeType, list_executions
from tidal_server.visibility.writer import index_attributes
from tidal_server.visibility_cli import TYPES


def test_cli_type_names_match_the_library() -> None:
    assert TYPES == tuple(k.value for k in SearchAttributeType)


def test_add_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.sqlite3'}"
    asyncio.run(migrate(url))
    add = ["search-attribute", "add", "--database-url", url, "--name", "Note", "--type", "Text"]
    assert cli.main(add) == 0
    assert "Note (Text) registered in namespace 'default'" in capsys.readouterr().out
    assert cli.main(add) == 0
    assert "already registered" in capsys.readouterr().out
    assert cli.main([*add[:-1], "Keyword"]) == 1
    assert "already registered as Text" in capsys.readouterr().err
    assert (
        cli.main(["search-attribute", "add", "--database-url", url, "--name", "StartTime", "--type", "Int"])
        == 1
    )
    assert "system attribute" in capsys.readouterr().err
    assert cli.main(["search-attribute", "list", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert (
        "WorkflowType             Keyword   system" in out
        and "Note                     Text      custom" in out
    )

    async def text_is_used() -> list[str]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    executions.insert().values(
                        namespace=DEFAULT_NAMESPACE,
                        workflow_id="w",
                        run_id="r",
                        shard_id=0,
                        workflow_type="T",
                        task_queue="q",
                        status="Running",
                        start_time=datetime.now(UTC),
                        next_event_id=2,
                        version=1,
                        state={},
                        memo={},
                        search_attributes={"Note": "Please ring TWICE"},
                    )
                )
                await index_attributes(
                    conn,
                    sqlite.insert,
                    namespace="default",
                    workflow_id="w",
                    run_id="r",
                    changes={"Note": "Please ring TWICE"},
                    new_run=True,
                )
            page = await list_executions(engine, "default", "Note = 'ring twice'", page_size=10)
            return [e.workflow_id for e in page.executions]
        finally:
            await engine.dispose()

    assert asyncio.run(text_is_used()) == ["w"]


def test_unmigrated_database_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    assert cli.main(["search-attribute", "list", "--database-url", url]) == 1
    assert "tidal-server migrate" in capsys.readouterr().err
