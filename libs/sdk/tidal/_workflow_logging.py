"""The workflow logger (`workflow.logger`, a `workflow.LoggerAdapter`): adds the run's identity
to each record and skips records while history is replayed, as temporalio's. Part of
`tidal.workflow`'s API (re-exported there)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from ._workflow_context import _rt
from ._workflow_handlers import current_update_info

__all__ = ["LoggerAdapter", "logger"]


class LoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds the running workflow's details to log records.

    `workflow_info_on_message`: append them to the message (default True);
    `workflow_info_on_extra`: put them in `extra` as `temporal_workflow` (the name temporalio's
    log handlers read) and as `workflow_id` / `run_id` / `workflow_type` (default True);
    `full_workflow_info_on_extra`: also the whole `workflow.info()` as `workflow_info` (default
    False); `log_during_replay`: log while replaying history too (default False, so a replay
    does not log everything a second time)."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any] | None) -> None:
        super().__init__(logger, dict(extra or {}))
        self.workflow_info_on_message = True
        self.workflow_info_on_extra = True
        self.full_workflow_info_on_extra = False
        self.log_during_replay = False

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        try:
            rt = _rt()
            info = rt.info
        except RuntimeError:
            return msg, kwargs
        details: dict[str, Any] = {
            "attempt": info.attempt,
            "namespace": info.namespace,
            "run_id": info.run_id,
            "task_queue": info.task_queue,
            "workflow_id": info.workflow_id,
            "workflow_type": info.workflow_type,
        }
        if (update := current_update_info()) is not None:
            details.update(update_id=update.id, update_name=update.name)
        extra: dict[str, Any] = {}
        if self.workflow_info_on_extra:
            extra["temporal_workflow"] = details
            extra.update(workflow_id=info.workflow_id, run_id=info.run_id, workflow_type=info.workflow_type)
        if self.full_workflow_info_on_extra:
            extra["workflow_info"] = dataclasses.replace(info)
        # The call's own `extra` wins, as `merge_extra=True` does.
        kwargs["extra"] = {**extra, **(kwargs.get("extra") or {})}
        if self.workflow_info_on_message:
            msg = f"{msg} ({details})"
        return msg, kwargs

    def isEnabledFor(self, level: int) -> bool:
        try:
            replaying = _rt().is_replaying and not _rt().is_read_only
        except RuntimeError:
            replaying = False
        if replaying and not self.log_during_replay:
            return False
        return super().isEnabledFor(level)

    @property
    def base_logger(self) -> logging.Logger:
        """The underlying logger (to add handlers or formatters)."""
        base: logging.Logger = self.logger
        return base


logger = LoggerAdapter(logging.getLogger("tidal.workflow"), None)
