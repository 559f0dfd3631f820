"""Every public SDK module declares its surface in `__all__` (as encode/httpx's
test_exported_members): what a module defines publicly is exported, what it exports exists, and a
new public module cannot appear without one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
import tidal

PUBLIC = [
    "tidal",
    "tidal.activity",
    "tidal.cli",
    "tidal.client",
    "tidal.common",
    "tidal.contrib.encryption",
    "tidal.converter",
    "tidal.exceptions",
    "tidal.replayer",
    "tidal.saga",
    "tidal.testing",
    "tidal.worker",
    "tidal.workflow",
]


def _public_modules() -> list[str]:
    found = ["tidal"]
    for info in pkgutil.walk_packages(tidal.__path__, "tidal."):
        if not any(part.startswith("_") for part in info.name.split(".")) and not info.ispkg:
            found.append(info.name)
    return sorted(found)


def test_the_public_modules_are_these() -> None:
    assert _public_modules() == sorted(PUBLIC)


def _defined_here(module: ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_declared_complete_and_real(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
    unexported = sorted(_defined_here(module) - set(exported))
    assert not unexported, f"{name} defines public names missing from __all__: {unexported}"


SERVER_PACKAGES = ("tidal_server", "tidal_frontend", "tidal_history", "tidal_matching", "tidal_timer")


CLIENT_SIDE = ["tidal", "tidal.client", "tidal.worker", "tidal.workflow", "tidal.activity", "tidal.converter"]


def test_the_client_side_loads_no_server_module() -> None:
    """A worker or client process needs only the SDK and the schema library: importing it must
    not drag in the server (its dependencies are not the SDK's; `tidal.testing` is the exception,
    it embeds the server). One fresh interpreter imports each module in turn."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        f"for name in {CLIENT_SIDE!r}:\n"
        "    importlib.import_module(name)\n"
        f"    loaded = sorted(m for m in sys.modules if m.split('.')[0] in {SERVER_PACKAGES!r})\n"
        "    print(name, loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines == [f"{name} []" for name in CLIENT_SIDE], lines


def _sdk_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(tidal.__path__, "tidal."):
        for value in vars(importlib.import_module(info.name)).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__.startswith("tidal")
            ):
                found.add(value)
    return found


# Control flow, on BaseException as in temporalio: workflow code's `except Exception` must not
# swallow them.
CONTROL_FLOW = {"ContinueAsNewError", "ContinueAsNewRequest", "_CompleteAsyncError"}
# Warning categories (`warnings.warn`, e.g. UnfinishedSignalHandlersWarning) are RuntimeWarnings as
# in temporalio, so `filterwarnings` works on them; they are never raised as errors.


def test_every_sdk_exception_is_a_tidal_error() -> None:
    from tidal.exceptions import TidalError

    outside = sorted(
        f"{e.__module__}.{e.__qualname__}"
        for e in _sdk_exceptions()
        if not issubclass(e, TidalError | Warning) and e.__name__ not in CONTROL_FLOW
    )
    assert not outside, f"exceptions outside TidalError: {outside}"


def test_rpc_error_declares_what_callers_read() -> None:
    """`run_id` and `problem` used to be set on the instance from outside (type: ignore)."""
    from tidal.exceptions import RPCError

    err = RPCError(
        "taken", status="already_started", code=409, run_id="r-1", problem={"code": "already_started"}
    )
    assert (err.status, err.code, err.run_id, err.problem) == (
        "already_started",
        409,
        "r-1",
        {"code": "already_started"},
    )
    assert RPCError("x").run_id is None and RPCError("x").problem == {}
