"""Structured logging on the stdlib: one JSON object per line, so log shippers (Loki, ELK) can
index shard / namespace / workflow_id / run_id without parsing prose.

Pass context through `extra`: ``log.info("committed batch", extra={"shard": 3, "events": 12})``.
The conventional keys are `shard`, `namespace`, `workflow_id` and `run_id`; `trace_id` and
`span_id` are added from the current OpenTelemetry span, so a log line joins its trace.
"""

from __future__ import annotations

import json as _json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from .telemetry import current_trace_ids

# Attributes every LogRecord has; anything else on a record came from `extra`.
# color_message: uvicorn's ANSI-coloured duplicate of the message.
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, *, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        ids = current_trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a stray non-JSON value in `extra` must not lose the log line.
        return _json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal (`tidal-server dev`), extras appended as key=value."""

    def __init__(self, *, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(
            f"{k}={v}" for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")
        )
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the extras
        return f"{head} [{extras}]{sep}{tail}"


def configure_logging(level: str, *, service: str, json: bool = True, stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one structured handler (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service=service) if json else TextFormatter(service=service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that are chatty at INFO; our own loggers keep the requested level.
    for noisy in ("aiormq", "aio_pika", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
