"""The list filter applied to documents in memory (schedules' own search attributes): the same
parser and literal rules as the SQL compilation, every type, keyword lists, and errors with
positions."""

from __future__ import annotations

from typing import Any

import pytest
from tidal_server.visibility import (
    QueryError,
    SearchAttributeType,
    compile_matcher,
    invalid_search_attributes,
    parse,
)

SYSTEM = {"ScheduleId": SearchAttributeType.KEYWORD, "TemporalSchedulePaused": SearchAttributeType.BOOL}
DOCS: dict[str, dict[str, Any]] = {
    "a": {
        "ScheduleId": "a",
        "TemporalSchedulePaused": False,
        "Team": "data",
        "Tier": 2,
        "Score": 0.5,
        "Urgent": True,
        "Since": "2026-01-02T00:00:00+00:00",
        "Owners": ["ann", "bo"],
        "Note": "Nightly Warehouse load",
    },
    "b": {"ScheduleId": "b", "TemporalSchedulePaused": True, "Team": "ops", "Tier": 3, "Owners": ["cy"]},
    "c": {"ScheduleId": "c", "TemporalSchedulePaused": False},
}


def _ids(query: str, registry: dict[str, SearchAttributeType] | None = None) -> list[str]:
    match = compile_matcher(parse(query), registry or {}, system=SYSTEM, entity="schedule")
    return [k for k, doc in DOCS.items() if match(doc)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["a", "b", "c"]),
        ("Team = 'data'", ["a"]),
        ("Team != 'data'", ["b"]),  # without the attribute: never matched by a value predicate
        ("Team IS NULL", ["c"]),
        ("Tier >= 3", ["b"]),
        ("Tier BETWEEN 1 AND 2", ["a"]),
        ("Score < 1", ["a"]),
        ("Urgent = true", ["a"]),
        ("Since > '2026-01-01T00:00:00Z'", ["a"]),
        ("Owners = 'bo'", ["a"]),  # a keyword list contains the value
        ("Owners != 'bo'", ["b"]),  # ... or does not
        ("Owners IN ('cy', 'zed')", ["b"]),
        ("Owners STARTS_WITH 'an'", ["a"]),
        ("ScheduleId IN ('a', 'c') AND TemporalSchedulePaused = false", ["a", "c"]),
        ("(Team = 'ops' OR Tier = 2) AND NOT_THERE IS NULL", ["a", "b"]),
        ("Team STARTS_WITH 'da'", ["a"]),
    ],
)
def test_filters_match_what_they_say(query: str, expected: list[str]) -> None:
    assert _ids(query) == expected


def test_a_registered_type_decides_literals_and_values() -> None:
    text = {"Note": SearchAttributeType.TEXT}
    assert _ids("Note = 'warehouse'", text) == ["a"]  # Text: case-insensitive words
    with pytest.raises(QueryError, match="Int attribute"):
        _ids("Tier = 'two'", {"Tier": SearchAttributeType.INT})
    # A stored value that does not fit the registered type matches nothing, as a run's would.
    assert _ids("Tier = '2'", {"Tier": SearchAttributeType.KEYWORD}) == []
    assert _ids("Tier != '2'", {"Tier": SearchAttributeType.KEYWORD}) == []
    with pytest.raises(QueryError, match="Keyword attribute"):
        _ids("Tier = 2", {"Tier": SearchAttributeType.KEYWORD})


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("WorkflowId = 'x'", "attribute of workflow runs"),
        ("Team = 'a' ORDER BY StartTime", "ORDER BY"),
        ("Team = ", "expected"),
        ("TemporalSchedulePaused > 1", "supports =, != and IN only"),
    ],
)
def test_bad_queries_name_the_culprit(query: str, reason: str) -> None:
    with pytest.raises(QueryError, match=reason) as err:
        _ids(query)
    assert err.value.position >= 0


def test_keyword_lists_are_values_only_where_asked() -> None:
    assert invalid_search_attributes({"Owners": ["a", "b"]}, allow_none=False, keyword_lists=True) is None
    assert invalid_search_attributes({"Owners": ["a"]}, allow_none=False) is not None  # runs: no lists
    for bad in ([1], ["a\x00"], ["x"] * 101, [["nested"]], ["k" * 2000]):
        assert invalid_search_attributes({"Owners": bad}, allow_none=False, keyword_lists=True)
    assert invalid_search_attributes({"bad name": 1}, allow_none=False, keyword_lists=True)
    assert invalid_search_attributes({"Obj": {"a": 1}}, allow_none=False, keyword_lists=True)
