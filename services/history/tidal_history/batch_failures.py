"""What the shard processor does when a batch fails: the batch failure policy.

Owns telling a failure the infrastructure caused (requeue the batch, back off, relay the outbox
until the store and bus answer again, counting nothing against the messages) from one a message
caused (isolate it by bisection: the halves are applied and committed separately, down to the
single offender, which goes to the poison policy in poison.py). What counts as transient is
`tidal_server.faults.is_transient`. The processor (shard.py) owns applying and committing a batch
and hands this policy the callables it needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from tidal_server.bus import Delivery
from tidal_server.faults import describe, is_transient

from . import metrics
from .poison import PoisonHandler
from .store import ShardLostError, StoreError

__all__ = ["BatchFailurePolicy"]

# The shard's logger: these lines were the shard processor's before the split, and log filters
# and dashboards know them by it.
log = logging.getLogger("tidal.history.shard")


class BatchFailurePolicy:
    """Runs a batch through `process`; on failure requeues it or isolates the offender."""

    def __init__(
        self,
        *,
        shard_id: int,
        process: Callable[[list[Delivery]], Awaitable[None]],
        relay_pending_outbox: Callable[[], Awaitable[None]],
        clear_cache: Callable[[], None],
        poison: PoisonHandler,
    ) -> None:
        self._shard_id = shard_id
        self._process = process
        self._relay_pending_outbox = relay_pending_outbox
        self._clear_cache = clear_cache
        self._poison = poison
        self._transient_failures = 0  # consecutive, for the backoff

    async def run(self, batch: list[Delivery]) -> None:
        """Process a batch. A failure the infrastructure caused requeues it (after a backoff); one
        a message caused is isolated by bisection: the halves are applied (and committed)
        separately, down to the single offender, which goes to the poison policy (poison.py)."""
        try:
            await self._process(batch)
            self._transient_failures = 0
            return
        except ShardLostError:
            raise
        except Exception as exc:
            self._clear_cache()  # transitions mutate cached runs in place: drop what did not commit
            if not await self._caused_by_message(exc, batch):
                return
            metrics.MESSAGE_FAILURES.inc()
            log.warning(
                "a batch of %d on shard %s failed because of a message (%s); isolating it",
                len(batch),
                self._shard_id,
                describe(exc),
                extra={"shard": self._shard_id},
            )
            failed = exc
        # Groups still to apply, in order (messages of one run keep their order). A group known to
        # fail is split; a single message that fails is the offender.
        todo: deque[tuple[list[Delivery], Exception | None]] = deque([(batch, failed)])
        while todo:
            group, known = todo.popleft()
            group = [d for d in group if not d.settled]  # e.g. dead-lettered as invalid already
            if not group:
                continue
            if known is None:
                try:
                    await self._process(group)
                    continue
                except ShardLostError:
                    await self.requeue([d for g, _ in todo for d in g])
                    raise
                except Exception as exc:
                    self._clear_cache()
                    if not await self._caused_by_message(exc, group + [d for g, _ in todo for d in g]):
                        return
                    known = exc
            if len(group) == 1:
                await self._poison.handle(group[0], known)
            else:
                mid = len(group) // 2
                todo.extendleft([(group[mid:], None), (group[:mid], None)])
        self._transient_failures = 0

    async def requeue(self, batch: list[Delivery]) -> None:
        for d in batch:
            if not d.settled and not self._poison.holds(d):
                try:
                    await d.nack(requeue=True)
                except Exception:
                    log.debug("could not requeue a delivery", exc_info=True)

    async def _caused_by_message(self, exc: Exception, pending: list[Delivery]) -> bool:
        """True if `exc` is a message's fault (the database answers and the error is of a kind only
        data causes). Otherwise `pending` is requeued and the loop backs off until the store and
        the bus work again, counting nothing against the messages."""
        # A version conflict means another writer got there first (an ownership change): the
        # infrastructure's business, not the message's.
        if not is_transient(exc) and not isinstance(exc, StoreError):
            try:
                # A database that answers is also the proof the store is not the problem; and rows a
                # batch committed before failing to publish go out before anything is retried.
                await self._relay_pending_outbox()
                return True
            except Exception:
                log.debug("the store or bus fails too: a transient failure", exc_info=True)
        metrics.TRANSIENT_FAILURES.inc()
        log.warning(
            "batch on shard %s failed (%s); requeueing %d messages",
            self._shard_id,
            describe(exc),
            len(pending),
            exc_info=exc,
            extra={"shard": self._shard_id},
        )
        await self.requeue(pending)
        self._transient_failures += 1
        await self._recover_outbox(min(0.2 * 2 ** (self._transient_failures - 1), 5.0))
        return False

    async def _recover_outbox(self, delay: float = 0.2) -> None:
        """A batch may have committed and then failed to publish: its outbox rows are in the
        database only, so publish whatever the shard has pending before going on (retrying with
        backoff while the bus or database is down)."""
        while True:
            await asyncio.sleep(delay)
            try:
                await self._relay_pending_outbox()
                return
            except Exception:
                log.exception(
                    "relaying the outbox of shard %s failed; retrying",
                    self._shard_id,
                    extra={"shard": self._shard_id},
                )
                delay = min(delay * 2, 5.0)
