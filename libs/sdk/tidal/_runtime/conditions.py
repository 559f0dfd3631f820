"""`workflow.wait_condition`: predicates checked whenever the activation goes idle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .activation import ActivationState

__all__ = ["Conditions"]


class Conditions:
    def __init__(self, state: ActivationState) -> None:
        self._state = state
        self._waiting: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []

    def add(self, fn: Callable[[], bool]) -> asyncio.Future[Any]:
        fut = self._state.loop.create_future()
        self._waiting.append((fn, fut))
        return fut

    def check(self) -> bool:
        """Resolve the conditions that hold now (or raised); whether any was resolved."""
        progressed = False
        for cond in list(self._waiting):
            fn, fut = cond
            if fut.done():  # e.g. cancelled by a wait_condition timeout
                self._waiting.remove(cond)
                continue
            try:
                ok = fn()
            except Exception as e:
                self._waiting.remove(cond)
                fut.set_exception(e)
                progressed = True
                continue
            if ok:
                self._waiting.remove(cond)
                fut.set_result(True)
                progressed = True
        return progressed
