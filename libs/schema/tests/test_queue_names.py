"""Queue names built from what users choose must fit AMQP's 255-byte short string: a longer one
cannot be put in a frame at all (the client library raises before sending anything), so a worker
with such an identity could not declare its own queue, and a task addressed to such a name made
history's and matching's publishes raise instead of coming back unroutable."""

from __future__ import annotations

import pytest
from tidal_schema import names


@pytest.mark.parametrize(
    "identity",
    [
        "x" * 300,
        "工作者" * 14,  # 42 CJK characters, each escaped to 7 bytes: 294 bytes before the cut
        "a/b" * 100,
        "é" * 1000,
        "worker-1@host",
    ],
)
def test_a_sticky_queue_name_fits_amqp_whatever_the_identity(identity: str) -> None:
    name = names.sticky_queue(identity)
    assert len(name.encode()) <= names.MAX_QUEUE_NAME_BYTES
    assert names.is_sticky_queue(name)


def test_identities_that_differ_past_the_cut_name_different_queues() -> None:
    base = "h" * 300
    # The worker appends a unique suffix to its identity; it must survive the cut.
    assert names.sticky_queue(f"{base}-0001") != names.sticky_queue(f"{base}-0002")


def test_a_short_identity_keeps_its_name() -> None:
    assert names.sticky_queue("worker-1") == "tidal.sticky.worker-1"


@pytest.mark.parametrize(
    ("name", "fits"),
    [
        ("tidal.sticky." + "x" * 242, True),  # exactly 255 bytes
        ("tidal.sticky." + "x" * 243, False),
        ("tidal.sticky." + "é" * 121, True),  # 13 + 242 bytes
        ("tidal.sticky." + "é" * 122, False),  # 63 characters would pass a length check
    ],
)
def test_a_name_too_long_for_amqp_is_no_sticky_queue(name: str, fits: bool) -> None:
    assert names.fits_queue_name(name) is fits
    assert names.is_sticky_queue(name) is fits
