"""`Worker(max_task_queue_activities_per_second=)` on the worker's side (no server needed): the
values it takes, its config, eager activities off, and the declarations it publishes. Matching's
side: services/matching/tests; both together: tests/e2e/test_task_queue_rate.py."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
from tidal import activity, workflow
from tidal._task_queue_rate import RateDeclarer
from tidal.worker import Worker
from tidal_schema import names
from tidal_schema.messages import RATE_DECLARATION


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> None:
        return None


@activity.defn
async def nothing() -> None:
    return None


client: Any = object()  # the constructor does not use it


@pytest.mark.parametrize("bad", [0, 0.0, -1, -0.5, math.nan, math.inf, 2e6, True])
def test_only_positive_finite_rates(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_task_queue_activities_per_second"):
        Worker(client, task_queue="q", activities=[nothing], max_task_queue_activities_per_second=bad)


def test_the_option_is_in_the_config_and_turns_eager_activities_off() -> None:
    limited = Worker(
        client, task_queue="q", workflows=[Noop], activities=[nothing], max_task_queue_activities_per_second=2
    )
    config = limited.config()
    assert config["max_task_queue_activities_per_second"] == 2
    assert Worker(**config)._task_queue_rate == 2
    assert not limited._eager and limited._slots.free_eager_activities() == 0
    free = Worker(client, task_queue="q", workflows=[Noop], activities=[nothing])
    assert free.config()["max_task_queue_activities_per_second"] is None
    assert free._eager and free._slots.free_eager_activities() > 0


class RecordingTransport:
    """Stands in for the worker's broker connection: records what the worker publishes."""

    max_message_bytes = 1 << 20

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.fail = fail

    async def publish_notice(self, exchange: str, routing_key: str, body: bytes) -> None:
        if self.fail:
            raise ConnectionError("no broker")
        self.sent.append((exchange, routing_key, body))


@pytest.mark.parametrize("rate", [2.5, None])
async def test_the_declaration_matching_reads(rate: float | None) -> None:
    transport = RecordingTransport()
    declarer = RateDeclarer(
        transport=transport,  # type: ignore[arg-type]
        namespace="ns",
        task_queue="q",
        per_second=rate,
        identity="w1",
    )
    await declarer.declare()
    [(exchange, key, body)] = transport.sent
    assert (exchange, key) == (names.RATES_EXCHANGE, names.MATCHING_RATES_ROUTING_KEY)
    msg = RATE_DECLARATION.validate_json(body)
    assert (msg.namespace, msg.task_queue, msg.activities_per_second, msg.identity) == ("ns", "q", rate, "w1")


async def test_a_declaration_that_cannot_be_sent_does_not_fail_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    declarer = RateDeclarer(
        transport=RecordingTransport(fail=True),  # type: ignore[arg-type]
        namespace="ns",
        task_queue="q",
        per_second=1,
        identity="w1",
    )
    with caplog.at_level(logging.INFO, logger="tidal.worker"):
        await declarer.declare()
    assert "declaring again later" in caplog.text
