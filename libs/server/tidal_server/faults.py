"""Which failures are the infrastructure's and which are a message's.

Every consumer needs the same decision when handling a message raises: is the database or the
broker unavailable (back off and retry, counting nothing against the message), or did this message
cause it (bounded retries, then dead-letter it or fail its run)? Getting it wrong either way is
costly: a poison message taken for an outage wedges its queue forever; an outage taken for poison
dead-letters good messages. So the rule is conservative: only errors that can only come from the
data itself count against a message.

- Transient: the bus's connection errors, OS/socket errors and timeouts, and every database error
  except the SQLSTATE classes below (connection loss, admin shutdown, serialization failures,
  lock timeouts, missing privileges or tables after an operator's change: none is the message's).
- Message-caused: database SQLSTATE classes 22 (data exception: a NUL in jsonb, a value out of
  range), 23 (integrity constraint) and 54 (program limit exceeded: too deep, too large), a
  parameter the driver cannot encode (an integer beyond int64), the bus refusing or being unable
  to route a message, and any other exception raised by our own code
  while applying a message (OverflowError, ValueError, RecursionError...).
"""

from __future__ import annotations

import sqlite3
from typing import Final

from .bus import BusError, UnroutableError

__all__ = ["MESSAGE_SQLSTATE_CLASSES", "describe", "is_transient", "sqlstate"]

MESSAGE_SQLSTATE_CLASSES: Final = frozenset({"22", "23", "54"})
_REASON_MAX = 500


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (SQLAlchemy's `orig`, causes, contexts), outermost first."""
    seen: set[int] = set()
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        orig = getattr(e, "orig", None)
        todo.extend([orig if isinstance(orig, BaseException) else None, e.__cause__, e.__context__])
    return out


def sqlstate(exc: BaseException) -> str | None:
    """The Postgres SQLSTATE behind `exc` (through SQLAlchemy's and asyncpg's wrappers), if any."""
    for e in _chain(exc):
        code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def _database_error(exc: BaseException) -> bool:
    import asyncpg
    import sqlalchemy.exc

    # asyncpg's own errors too: history's batch commit runs on asyncpg directly
    # (tidal_server.db.raw), where a closed connection is an unwrapped InterfaceError.
    # InternalClientError: asyncpg's protocol out of step, e.g. a statement sent on a connection
    # whose backend the server has just terminated ("cannot switch to state 11; another
    # operation (2) is in progress"): the connection's, never the message's.
    database = (
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
    )
    return isinstance(exc, database) or sqlstate(exc) is not None


def is_transient(exc: BaseException) -> bool:
    """True if `exc` says the infrastructure is (perhaps briefly) unavailable rather than that the
    message being handled is bad. See the module docstring for the rule."""
    if isinstance(exc, UnroutableError):
        return False
    if isinstance(exc, BusError | OSError | TimeoutError):
        return True
    if _database_error(exc):
        import sqlalchemy.exc

        state = sqlstate(exc)
        if state is not None:
            return state[:2] not in MESSAGE_SQLSTATE_CLASSES
        # SQLite and driver errors without a SQLSTATE: only a constraint or a value is the data's;
        # the driver refusing to encode a parameter (asyncpg's client-side DataError, e.g. an int
        # beyond int64, is a ValueError) is the data's too.
        return not any(
            isinstance(
                e,
                sqlalchemy.exc.IntegrityError
                | sqlalchemy.exc.DataError
                | sqlite3.IntegrityError
                | ValueError
                | TypeError
                | OverflowError,
            )
            for e in _chain(exc)
        )
    return False


def describe(exc: BaseException) -> str:
    """A one-line, bounded reason for logs and dead-letter headers (a NUL or a newline in an
    exception's text must not reach a header)."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    state = sqlstate(exc)
    if state is not None and state not in text:
        text = f"{text} (SQLSTATE {state})"
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."
