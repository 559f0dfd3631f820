"""`workflow.patched` / `deprecate_patch`: a patch marker on first execution; on replay the new
branch only where the original run recorded the patch in the same task."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidal_schema import Payload
from tidal_schema.commands import RecordMarker
from tidal_schema.events import HistoryEvent

from .._workflow_info import Info
from . import matching
from .activation import ActivationState

__all__ = ["PatchActivationInput", "Patches", "patch_ids_ahead"]


@dataclass(frozen=True)
class PatchActivationInput:
    """What `Worker(patch_activation_callback=)` is asked about (temporalio.worker's)."""

    workflow_info: Info
    """The run calling `workflow.patched`."""
    patch_id: str
    """The id given to `workflow.patched`."""


def patch_ids_ahead(evs: Sequence[HistoryEvent]) -> set[str]:
    """Patch markers among the command events that follow a WorkflowTaskCompleted: on replay,
    `patched(id)` is true only if the original run recorded it in this task."""
    ids: set[str] = set()
    for ev in evs:
        if ev.event_type not in matching.TASK_OUTPUT_EVENTS:
            break
        if (pid := matching.patch_id(ev)) is not None:
            ids.add(pid)
    return ids


class Patches:
    def __init__(
        self,
        state: ActivationState,
        *,
        activation_callback: Callable[[PatchActivationInput], bool] | None = None,
    ) -> None:
        self._state = state
        self._activation_callback = activation_callback
        self._decided: dict[str, bool] = {}
        self._in_task: set[str] = set()  # recorded by the task being replayed

    def expect(self, ids: set[str]) -> None:
        """The patch markers of the task about to be replayed (`patch_ids_ahead`)."""
        self._in_task = ids

    def patch(self, patch_id: str, *, deprecated: bool) -> bool:
        if patch_id in self._decided:
            return self._decided[patch_id]
        # New code path when running for the first time, or when the original run took it.
        take = not self._state.replaying or patch_id in self._in_task
        if take and not deprecated and not self._state.replaying and self._activation_callback:
            # Only a new patch in new code asks (as temporalio): on replay the marker decides,
            # and a deprecated patch keeps its meaning. Not taken: no marker, so a later task or
            # a replay of this run stays on the old branch.
            take = self._state.run_read_only(self._ask, patch_id)
        if take:
            details = {"patch_id": (Payload(data=patch_id),), "deprecated": (Payload(data=deprecated),)}
            self._state.add_command(RecordMarker(marker_name=matching.PATCH_MARKER, details=details))
        self._decided[patch_id] = take or deprecated
        return take or deprecated

    def _ask(self, patch_id: str) -> bool:
        assert self._activation_callback is not None
        given = PatchActivationInput(workflow_info=self._state.run_info, patch_id=patch_id)
        answer = self._activation_callback(given)
        if type(answer) is not bool:
            raise TypeError(f"patch_activation_callback must return True or False, not {answer!r}")
        return answer
