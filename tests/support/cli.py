"""The `tidal` CLI run in this process, for tests that call it many times in a row.

`python -m tidal.cli` spends a second or more importing before it sends its request (several
under load), so a test of a dozen calls spent most of its time starting interpreters. This runs
the same `main()` on a thread, as `python -m tidal.cli` runs it, with stdout and stderr
captured. Tests keep at least one call through a real process (`tidal_cli` in
tests/e2e/scenarios_visibility.py) so the entry point itself stays covered.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from typing import TextIO

from tidal.cli import main

__all__ = ["tidal_cli_in_process"]

# sys.stdout and sys.stderr are process-wide: one in-process CLI call at a time, and only the
# calling thread's writes are captured (the event loop's thread keeps printing where it did).
_ONE_AT_A_TIME = threading.Lock()


class _ThreadStream(io.TextIOBase):
    def __init__(self, *, thread: int, captured: io.StringIO, other: TextIO) -> None:
        self._thread, self._captured, self._other = thread, captured, other

    def write(self, text: str) -> int:
        target = self._captured if threading.get_ident() == self._thread else self._other
        return target.write(text)

    def flush(self) -> None:
        self._other.flush()


def _call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    me = threading.get_ident()
    with _ONE_AT_A_TIME:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = _ThreadStream(thread=me, captured=out, other=stdout)
        sys.stderr = _ThreadStream(thread=me, captured=err, other=stderr)
        try:
            code = main(argv)
        except SystemExit as exc:  # as the interpreter would report it: argparse's 2, a message's 1
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        finally:
            sys.stdout, sys.stderr = stdout, stderr
    return code, out.getvalue(), err.getvalue()


async def tidal_cli_in_process(address: str, *args: str) -> tuple[int, str, str]:
    """`tidal --address ADDRESS ARGS...`: (exit code, stdout, stderr)."""
    return await asyncio.to_thread(_call, ["--address", address, *args])
