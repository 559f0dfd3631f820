"""Parity with temporalio, checked mechanically (issue 11): Temporal code ports by changing imports.

Every public name of the temporalio modules Tidal mirrors must exist in Tidal with the same kind,
signature, enum members and class members, unless `scripts/temporal_parity.toml` lists it as a
deliberate omission (with a reason) or as a known gap. A new mismatch fails; so does a listed gap
that is fixed (delete the entry: the list only shrinks). The parity table in
docs/coming-from-temporal.md is generated from the same data.
"""

from __future__ import annotations

import enum
import inspect
import sys
from pathlib import Path

import pytest

pytest.importorskip("temporalio")

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import temporal_parity  # noqa: E402


def test_no_mismatch_outside_the_reviewed_lists() -> None:
    unlisted, _fixed, _used = temporal_parity.classify()
    assert not unlisted, (
        "new differences from temporalio (fix them, or list them in scripts/temporal_parity.toml "
        "with a reason):\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(unlisted.items()))
    )


def test_listed_gaps_still_exist() -> None:
    _unlisted, fixed, _used = temporal_parity.classify()
    assert not fixed, (
        "these known gaps are closed now: delete them from [gaps] in scripts/temporal_parity.toml "
        "and regenerate the docs (uv run python scripts/temporal_parity.py):\n"
        + "\n".join(f"  {k}" for k in sorted(fixed))
    )


def test_every_omission_has_a_reason_and_is_used() -> None:
    omitted, gaps, parameters = temporal_parity.load_lists()
    _unlisted, _fixed, used = temporal_parity.classify()
    for key, reason in {**omitted, **parameters}.items():
        assert reason.strip(), f"{key} is omitted without a reason"
    assert set(omitted) == used, f"omissions that match nothing: {sorted(set(omitted) - used)}"
    overlap = [k for k in gaps if temporal_parity.omitted_by(k, omitted) is not None]
    assert not overlap, f"both omitted and a gap: {overlap}"


def test_docs_table_is_up_to_date() -> None:
    text = temporal_parity.DOC.read_text()
    assert temporal_parity.render_doc(text) == text, (
        "docs/coming-from-temporal.md is out of date: run `uv run python scripts/temporal_parity.py`"
    )


# --- the checker itself: it must see the differences it claims to see -------------------------


def test_checker_sees_a_missing_parameter_a_kind_change_and_a_default() -> None:
    def theirs(a: int, *, b: str = "x", c: bool = False) -> None: ...

    def ours_ok(a: int, *, b: str = "x", c: bool = False, extra: int = 0) -> None: ...

    def ours_bad(a: int, b: str = "y") -> None: ...

    assert temporal_parity.compare_signatures(theirs, ours_ok) == []
    problems = temporal_parity.compare_signatures(theirs, ours_bad)
    assert "no parameter `c`" in problems
    assert "`b` default 'y', not 'x'" in problems
    assert temporal_parity.compare_signatures(theirs, ours_bad, frozenset({"c"})) == [
        "`b` default 'y', not 'x'"
    ]


def test_checker_sees_missing_enum_members_and_class_members() -> None:
    class Theirs(enum.IntEnum):
        A = 1
        B = 2

    class Ours(enum.Enum):
        A = "a"

    assert list(temporal_parity.compare_class("m.E", Theirs, Ours, frozenset())) == [
        ("m.E:members", "no member B")
    ]

    class TheirsCls:
        def method(self, x: int) -> None: ...

        @property
        def prop(self) -> int:
            return 1

    class OursCls:
        def __init__(self) -> None:
            self.prop = 1

        def method(self) -> None: ...

    found = dict(temporal_parity.compare_class("m.C", TheirsCls, OursCls, frozenset()))
    assert found == {"m.C.method:signature": "no parameter `x`"}
    assert inspect.isclass(OursCls)
