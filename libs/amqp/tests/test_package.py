"""tidal_amqp is a leaf: every module declares `__all__`, importing it loads nothing else of Tidal,
and the aiormq internals it reads and writes are where it expects them (a new aiormq release
that moves them must fail here, not in production)."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import aiormq
import aiormq.abc
import aiormq.channel
import aiormq.connection
import pytest
import tidal_amqp

MODULES = sorted(
    ["tidal_amqp", *(info.name for info in pkgutil.iter_modules(tidal_amqp.__path__, "tidal_amqp."))]
)


def test_the_modules_are_these() -> None:
    assert MODULES == [
        "tidal_amqp",
        "tidal_amqp.channel_writer",
        "tidal_amqp.consume",
        "tidal_amqp.deliveries",
        "tidal_amqp.frames",
        "tidal_amqp.outbox",
        "tidal_amqp.properties",
        "tidal_amqp.reader",
    ]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_declared_complete_and_real(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []
    defined = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and v.__module__ == module.__name__
    }
    assert sorted(defined - set(exported)) == []


def test_it_loads_no_other_tidal_package() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('tidal')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['tidal_amqp']"


def test_the_aiormq_internals_it_relies_on_are_there() -> None:
    version = importlib.metadata.version("aiormq")
    assert version.startswith("7.2."), f"aiormq {version}: check tidal_amqp against it, then the pin"
    # Module text, not inspect.getsource: for a class 3.11 parses the module with ast, which
    # failed mid-session with "AST constructor recursion depth mismatch".
    channel_module = Path(aiormq.channel.__file__).read_text()
    connection_module = Path(aiormq.connection.__file__).read_text()
    for attr in (
        "confirmations",
        "delivery_tag",
        "message_id_delivery_tag",
        "consumers",
        "write_queue",
        "connection",
        "max_content_size",
        "number",
    ):
        assert re.search(rf"self\.{attr}\b\s*[:=]", channel_module), attr
    for prop in ("is_closed", "closing", "create_future"):
        assert hasattr(aiormq.Channel, prop), prop
    # Closing-before-closed: outbox.channel_closing reads the name-mangled close event.
    assert "self.__close_event" in channel_module
    # The frames the writers put on the connection's write queue.
    assert set(inspect.signature(aiormq.abc.ChannelFrame).parameters) >= {"payload", "should_close"}
    assert set(inspect.signature(aiormq.abc.DeliveredMessage).parameters) >= {
        "delivery",
        "header",
        "body",
        "channel",
    }
    # reader.install swaps the receiver aiormq builds in Connection.connect.
    assert "frame_receiver = FrameReceiver(reader)" in connection_module
    # deliveries.route_deliveries stands in for the queue the connection's reader puts into and
    # the channel's reader takes from.
    assert "await ch.frames.put((weight, frame))" in connection_module
    assert "await self.frames.get()" in channel_module
    assert "self.frames.task_done()" in channel_module
