"""Compensations for workflows: register an undo step after each step succeeds; on failure, run
them in reverse order, then let the original error continue.

    async with Saga() as saga:
        await workflow.execute_activity(book_hotel, trip, start_to_close_timeout=T)
        saga.add_compensation(workflow.execute_activity, cancel_hotel, trip, start_to_close_timeout=T)
        await workflow.execute_activity(book_flight, trip, start_to_close_timeout=T)
        saga.add_compensation(workflow.execute_activity, cancel_flight, trip, start_to_close_timeout=T)

Everything here runs inside workflow code, so it is replayed like the rest: compensations are
ordinary activities (or any awaitable-returning callables) and their order is deterministic.
Temporal's Python SDK ships no saga helper; this one follows the pattern from Temporal's samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import workflow
from .exceptions import ApplicationError

__all__ = ["Saga", "SagaCompensationError"]


class SagaCompensationError(ApplicationError):
    """One or more compensations failed. `errors` holds them in the order they ran; the error that
    triggered compensation is `__cause__`. An ApplicationError, so it fails the workflow (a plain
    exception would only fail the workflow task, which is retried forever)."""

    def __init__(self, message: str, *, errors: list[BaseException]) -> None:
        super().__init__(message, type="SagaCompensationError", non_retryable=True)
        self.errors = errors


@dataclass(frozen=True)
class _Compensation:
    fn: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Saga:
    """Collects compensations; `compensate()` runs them newest first.

    As an async context manager it compensates when the block raises (cancellation included: a
    cancelled workflow still undoes what it did) and re-raises the original error. With
    `parallel_compensations=True` they run concurrently instead (faster, but no ordering); with
    `continue_on_error=False` the first failing compensation stops the rest."""

    def __init__(self, *, parallel_compensations: bool = False, continue_on_error: bool = True) -> None:
        self._parallel = parallel_compensations
        self._continue_on_error = continue_on_error
        self._compensations: list[_Compensation] = []

    def add_compensation(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        self._compensations.append(_Compensation(fn, args, kwargs))

    async def compensate(self) -> None:
        """Run the registered compensations (each at most once) and forget them. Raises
        SagaCompensationError if any failed."""
        pending, self._compensations = list(reversed(self._compensations)), []
        errors: list[BaseException] = []
        if self._parallel:
            results = await asyncio.gather(
                *(c.fn(*c.args, **c.kwargs) for c in pending), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
        else:
            for c in pending:
                try:
                    await c.fn(*c.args, **c.kwargs)
                except Exception as e:
                    errors.append(e)
                    workflow.logger.warning("saga compensation %s failed: %s", _name(c.fn, c.args), e)
                    if not self._continue_on_error:
                        break
        if errors:
            raise SagaCompensationError(
                f"{len(errors)} of {len(pending)} compensation(s) failed: {errors[0]!r}", errors=errors
            )

    async def __aenter__(self) -> Saga:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        if not isinstance(exc, Exception | asyncio.CancelledError):
            return  # KeyboardInterrupt, ContinueAsNewError...: not a business failure
        try:
            await self.compensate()
        except SagaCompensationError as comp:
            raise comp from exc


def _name(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    # execute_activity(cancel_hotel, ...): name the activity, not the helper that runs it.
    target = args[0] if args and callable(args[0]) else fn
    return str(getattr(target, "__name__", target))
