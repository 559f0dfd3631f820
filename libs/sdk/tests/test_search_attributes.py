"""workflow.upsert_search_attributes: a command per call, matched by its event on replay."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tidal import workflow
from tidal._runtime import WorkflowInstance, WorkflowTaskError
from tidal._runtime.history_builder import HistoryBuilder
from tidal._visibility import encode_search_attributes
from tidal.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from tidal_schema import commands

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@workflow.defn(name="Tagging")
class Tagging:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes({"Stage": "packing", "At": workflow.now(), "Rank": 2})
        await workflow.sleep(1)
        workflow.upsert_search_attributes({"Stage": "done", "Rank": None})
        return "ok"


@workflow.defn(name="Tagging")
class TaggingWithoutUpsert:
    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(1)
        return "ok"


def _instance(cls: type, h: HistoryBuilder) -> WorkflowInstance:
    return WorkflowInstance(
        definition=workflow.get_definition(cls),
        namespace="default",
        workflow_id=h.workflow_id,
        run_id=h.run_id,
    )


def test_upserts_are_commands_and_replay_deterministically() -> None:
    h = HistoryBuilder("Tagging", start_time=START)
    inst = _instance(Tagging, h)
    first = inst.activate(h.task())
    assert first[0] == commands.UpsertWorkflowSearchAttributesCommand(
        search_attributes={"Stage": "packing", "At": START.isoformat(), "Rank": 2}
    )
    assert isinstance(first[1], commands.StartTimer)
    h.complete_task(first)
    h.advance(1)
    h.timer_fired(first[1].timer_id)
    h.schedule_task()
    second = inst.activate(h.task(first_event_id=inst.last_event_id + 1))
    assert second[0] == commands.UpsertWorkflowSearchAttributesCommand(
        search_attributes={"Stage": "done", "Rank": None}
    )
    assert isinstance(second[1], commands.CompleteWorkflowExecution)
    # A fresh worker replays the history so far: the first upsert matches its event, and the
    # second activation produces the same commands.
    assert _instance(Tagging, h).activate(h.task()) == second
    # Code that no longer upserts is caught as an incompatible change.
    with pytest.raises(WorkflowTaskError, match="UpsertWorkflowSearchAttributes"):
        _instance(TaggingWithoutUpsert, h).activate(h.task())


def test_values_are_encoded_as_json() -> None:
    naive = datetime(2024, 1, 1, 8, 30)
    assert encode_search_attributes({"A": naive, "B": 1.5, "C": None}) == {
        "A": "2024-01-01T08:30:00+00:00",
        "B": 1.5,
        "C": None,
    }


def test_outside_a_workflow_it_refuses() -> None:
    with pytest.raises(RuntimeError, match="Not in workflow event loop"):
        workflow.upsert_search_attributes({"A": 1})


# --- typed search attributes (temporalio.common's API) --------------------------------------

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
NOTES = SearchAttributeKey.for_text("Notes")
RANK = SearchAttributeKey.for_int("Rank")
SCORE = SearchAttributeKey.for_float("Score")
VIP = SearchAttributeKey.for_bool("Vip")
SEEN = SearchAttributeKey.for_datetime("Seen")
TAGS = SearchAttributeKey.for_keyword_list("Tags")


@workflow.defn(name="TypedTagging")
class TypedTagging:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes(
            [CUSTOMER.value_set("c-1"), SEEN.value_set(workflow.now()), RANK.value_unset()]
        )
        return "ok"


def test_typed_upserts_are_the_same_command_as_a_mapping() -> None:
    h = HistoryBuilder("TypedTagging", start_time=START)
    first = _instance(TypedTagging, h).activate(h.task())
    assert first[0] == commands.UpsertWorkflowSearchAttributesCommand(
        search_attributes={"CustomerId": "c-1", "Seen": START.isoformat(), "Rank": None}
    )


def test_typed_collection_round_trips_through_json() -> None:
    attrs = TypedSearchAttributes(
        [
            SearchAttributePair(VIP, True),
            SearchAttributePair(CUSTOMER, "c-1"),
            SearchAttributePair(RANK, 3),
            SearchAttributePair(SCORE, 0.5),
            SearchAttributePair(SEEN, START),
            SearchAttributePair(TAGS, ["a", "b"]),
            SearchAttributePair(NOTES, "free text"),
        ]
    )
    assert [p.key.name for p in attrs] == sorted(p.key.name for p in attrs)  # sorted, as temporalio
    back = TypedSearchAttributes.from_json(attrs.to_json())
    assert len(back) == 7
    for key, value in attrs:
        assert back[key] == value, key.name
        assert key in back
    # JSON carries no Text/Keyword distinction: a text key finds its string all the same.
    assert back.get(SearchAttributeKey.for_keyword("Notes")) == "free text"
    assert back.get(SearchAttributeKey.for_int("CustomerId")) is None  # another type: not found
    assert back.get(SearchAttributeKey.for_keyword("Missing"), "x") == "x"
    with pytest.raises(KeyError):
        back[SearchAttributeKey.for_keyword("Missing")]


def test_typed_collection_refuses_duplicates_and_updates_by_name() -> None:
    with pytest.raises(ValueError, match="Duplicate"):
        TypedSearchAttributes([SearchAttributePair(RANK, 1), SearchAttributePair(RANK, 2)])
    attrs = TypedSearchAttributes.empty.updated(SearchAttributePair(RANK, 1))
    assert attrs.updated(SearchAttributePair(RANK, 2))[RANK] == 2
    assert len(TypedSearchAttributes.empty) == 0


def test_a_value_of_an_unsupported_type_is_refused_at_the_upsert() -> None:
    @workflow.defn(name="BadTyped")
    class BadTyped:
        @workflow.run
        async def run(self) -> None:
            workflow.upsert_search_attributes([CUSTOMER.value_set({"no": "dicts"})])  # type: ignore[arg-type]

    h = HistoryBuilder("BadTyped", start_time=START)
    with pytest.raises(WorkflowTaskError, match="unsupported value type dict"):
        _instance(BadTyped, h).activate(h.task())
