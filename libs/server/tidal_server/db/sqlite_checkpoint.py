"""WAL checkpoints of the embedded mode's SQLite file on a thread of their own.

SQLite checkpoints a WAL file from inside the COMMIT that pushes it past `wal_autocheckpoint`
pages (1,000 by default). With `synchronous=NORMAL` a checkpoint syncs the WAL, copies it into
the database file and syncs that: two fsyncs. The embedded mode runs its one connection on the
event loop's thread (sqlite_loop.py), so that COMMIT stopped the whole server for the two fsyncs:
a one-activity workflow writes about 60 pages, so every 17th workflow or so waited 8-30 ms
(fsync p50 4 ms, p90 10 ms on the development box's disk), and with it every other workflow in
flight (docs/performance.md, "Embedded mode").

Here a thread with a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every
`interval` seconds (less often while idle). A passive checkpoint takes no lock a writer
or a reader of the loop's connection waits for (never the write lock; the checkpoint lock and
read marks only without waiting), so the loop never sleeps in the busy handler for it. It cannot
reset the WAL while the loop keeps committing, though: SQLite starts the WAL over only when a
writer finds every frame copied. The loop's connection therefore keeps its own automatic
checkpoint, at `FALLBACK_PAGES` instead of 1,000: by then this thread has copied all but the
last few frames, and the loop's checkpoint finishes them, after which the next commit starts the
WAL over (so the file stays bounded). What is durable when is unchanged: a commit is in the WAL
when COMMIT returns, as before; a checkpoint only moves committed pages into the database file,
with the same syncs wherever it runs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

__all__ = ["FALLBACK_PAGES", "Checkpointer"]

log = logging.getLogger(__name__)

FALLBACK_PAGES = 3000
"""`wal_autocheckpoint` of the loop's connection: the checkpoint the loop still runs itself,
three times less often than SQLite's default, and mostly with little left to copy. Higher
(8,000) cost the burst CPU: a WAL file eight times larger, written afresh before each start
over (burst 2.90-3.31 -> 3.40-3.75 CPU-ms per workflow on the loaded box)."""


class Checkpointer:
    """A daemon thread checkpointing one database file's WAL; `stop()` ends it."""

    def __init__(self, path: str, *, interval: float = 0.25, idle_interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self._idle_interval = idle_interval
        self._stopped = threading.Event()
        self._copied = 0
        self.checkpoints = 0
        """Checkpoints that copied frames (for tests and probes)."""
        self._thread = threading.Thread(target=self._run, name="tidal-sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for at most `timeout` seconds (a checkpoint in progress
        finishes first; one stuck on a dead disk is left to die with the process)."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error:
            log.warning("cannot open %s for checkpoints; the loop's connection does them", self._path)
            return
        try:
            conn.execute("PRAGMA busy_timeout=0")  # a passive checkpoint never waits anyway
            wait = self._interval
            while not self._stopped.wait(wait):
                # Idle (nothing was copied): wake less and less often, up to `idle_interval`.
                wait = self._interval if self._checkpoint(conn) else min(2 * wait, self._idle_interval)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> bool:
        """One passive checkpoint; whether it copied frames."""
        try:
            _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            # A full disk, a file gone: the loop's own automatic checkpoint is still there.
            log.debug("checkpoint of %s failed: %s", self._path, exc)
            return False
        # `copied` counts the WAL's frames already in the database file; it starts over with the
        # WAL (a reset: fewer than last time).
        progressed = bool(frames > 0 and copied > (self._copied if copied >= self._copied else 0))
        self._copied = copied
        if progressed:
            self.checkpoints += 1
        return progressed
