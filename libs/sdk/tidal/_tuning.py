"""Worker tuners (temporalio.worker's `WorkerTuner` and `FixedSizeSlotSupplier`; re-exported by
`tidal.worker`). A Tidal worker takes tasks by broker prefetch, a fixed credit per queue, so the
slot suppliers it can honour are fixed sizes: `Worker(tuner=WorkerTuner.create_fixed(...))` is
the same as the `max_concurrent_*` arguments (and excludes them, as in temporalio)."""

from __future__ import annotations

from dataclasses import dataclass

from ._worker_errors import WorkerError

__all__ = ["FixedSizeSlotSupplier", "WorkerTuner"]

DEFAULT_SLOTS = 100


@dataclass(frozen=True)
class FixedSizeSlotSupplier:
    """At most `num_slots` tasks of one kind at a time."""

    num_slots: int

    def __post_init__(self) -> None:
        if self.num_slots < 1:
            raise WorkerError(f"a slot supplier needs at least one slot, not {self.num_slots}")


SlotSupplier = FixedSizeSlotSupplier


@dataclass(frozen=True)
class WorkerTuner:
    """Slots for workflow tasks, activities and local activities."""

    workflow_supplier: SlotSupplier
    activity_supplier: SlotSupplier
    local_activity_supplier: SlotSupplier

    @classmethod
    def create_fixed(
        cls,
        *,
        workflow_slots: int | None = None,
        activity_slots: int | None = None,
        local_activity_slots: int | None = None,
    ) -> WorkerTuner:
        """Fixed sizes; any not given is 100, as in temporalio."""
        return cls(
            FixedSizeSlotSupplier(workflow_slots or DEFAULT_SLOTS),
            FixedSizeSlotSupplier(activity_slots or DEFAULT_SLOTS),
            FixedSizeSlotSupplier(local_activity_slots or DEFAULT_SLOTS),
        )

    @classmethod
    def create_composite(
        cls,
        *,
        workflow_supplier: SlotSupplier,
        activity_supplier: SlotSupplier,
        local_activity_supplier: SlotSupplier,
    ) -> WorkerTuner:
        for supplier in (workflow_supplier, activity_supplier, local_activity_supplier):
            if not isinstance(supplier, FixedSizeSlotSupplier):
                raise WorkerError(f"Tidal workers take fixed-size slot suppliers, not {supplier!r}")
        return cls(workflow_supplier, activity_supplier, local_activity_supplier)


def resolve_slots(
    tuner: WorkerTuner | None,
    workflow_tasks: int | None,
    activities: int | None,
    local_activities: int | None,
) -> tuple[int, int, int]:
    """(workflow task, activity, local activity) slots from a tuner or the max_concurrent_*."""
    if tuner is None:
        given = (workflow_tasks, activities, local_activities)
        slots = tuple(DEFAULT_SLOTS if v is None else v for v in given)
        if any(v < 1 for v in slots):
            raise WorkerError(f"max_concurrent_* must be at least 1, not {min(slots)}")
        return slots[0], slots[1], slots[2]
    if any(v is not None for v in (workflow_tasks, activities, local_activities)):
        raise WorkerError("give either tuner= or max_concurrent_* arguments, not both (as temporalio)")
    return (
        tuner.workflow_supplier.num_slots,
        tuner.activity_supplier.num_slots,
        tuner.local_activity_supplier.num_slots,
    )
