"""Safe eviction (temporalio's default): a run dropped from the worker's cache has its pending
coroutines cancelled and unwound on its own loop, so their `finally` blocks and context managers
run in the workflow's environment instead of whenever the garbage collector closes them (then in
whatever thread and loop happen to be current)."""

from __future__ import annotations

from .loop import WorkflowEventLoop

__all__ = ["MAX_TEARDOWN_ROUNDS", "tear_down"]

# Cleanup code may await again after its cancellation (a `finally` that sleeps, a handler that
# swallows CancelledError): each round cancels what is still pending. A coroutine that survives
# this many is abandoned to the garbage collector rather than holding the worker.
MAX_TEARDOWN_ROUNDS = 20


def tear_down(loop: WorkflowEventLoop) -> int:
    """Cancel the loop's pending tasks and run them until they finish; the count left pending.
    The caller makes `loop` the running loop and discards the commands cleanup code produced."""
    for _ in range(MAX_TEARDOWN_ROUNDS):
        pending = loop.pending_tasks()
        if not pending:
            return 0
        for task in pending:
            task.cancel()
        loop.run_ready()
    return len(loop.pending_tasks())
