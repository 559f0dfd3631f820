import re
from datetime import UTC, datetime, timedelta

import pytest
import tidal_schema
from pydantic import ValidationError
from tidal_schema import HistoryEvent, Payload, names, shard_for
from tidal_schema.events import ActivityTaskScheduled, WorkflowExecutionStarted
from tidal_schema.jsonschema import message_schemas
from tidal_schema.messages import HISTORY_MESSAGE, CompleteWorkflowTask, StartWorkflowExecution


def test_public_api_is_pinned() -> None:
    assert tidal_schema.__all__ == sorted(tidal_schema.__all__, key=lambda s: (not s.isupper(), s))
    assert set(tidal_schema.__all__) == {
        "CLOSE_EVENT_TYPES",
        "DEFAULT_SHARD_COUNT",
        "SCHEMA_VERSION",
        "Failure",
        "HistoryEvent",
        "Payload",
        "Priority",
        "RetryPolicy",
        "TimeoutType",
        "WorkflowExecution",
        "WorkflowExecutionStatus",
        "WorkflowIdConflictPolicy",
        "WorkflowIdReusePolicy",
        "commands",
        "events",
        "json_payloads",
        "messages",
        "names",
        "shard_for",
    }


def test_history_message_round_trips_through_json_with_discriminator() -> None:
    msg = CompleteWorkflowTask(
        workflow_id="w",
        run_id="r",
        scheduled_event_id=2,
        commands=({"type": "StartTimer", "timer_id": "1", "start_to_fire_timeout": 1.5},),  # type: ignore[arg-type]
    )
    parsed = HISTORY_MESSAGE.validate_json(msg.model_dump_json())
    assert parsed == msg
    assert parsed.commands[0].start_to_fire_timeout == timedelta(seconds=1.5)  # type: ignore[union-attr]


def test_unknown_message_type_and_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        HISTORY_MESSAGE.validate_json(b'{"type": "Nope"}')
    with pytest.raises(ValidationError):
        StartWorkflowExecution.model_validate(
            {"workflow_id": "w", "workflow_type": "T", "task_queue": "q", "request_id": "x", "bogus": 1}
        )
    with pytest.raises(ValidationError):
        StartWorkflowExecution(workflow_id="", workflow_type="T", task_queue="q", request_id="x")


def test_history_event_type_comes_from_attributes() -> None:
    ev = HistoryEvent(
        event_id=1,
        event_time=datetime.now(UTC),
        attributes=WorkflowExecutionStarted(workflow_type="T", task_queue="q", input=(Payload(data=1),)),
    )
    again = HistoryEvent.model_validate_json(ev.model_dump_json())
    assert again.event_type == "WorkflowExecutionStarted"
    assert again == ev
    with pytest.raises(ValidationError):
        HistoryEvent(event_id=0, event_time=datetime.now(UTC), attributes=ev.attributes)
    sched = ActivityTaskScheduled(
        activity_id="1", activity_type="a", task_queue="q", workflow_task_completed_event_id=4
    )
    assert sched.retry_policy is None


def test_shard_function_is_stable_and_spread() -> None:
    assert shard_for("default", "order-1", 16) == shard_for("default", "order-1", 16)
    # A fixed expectation guards against anyone swapping the hash (that would orphan workflows).
    assert shard_for("default", "order-1", 16) == 14
    counts = [0] * 16
    for i in range(1600):
        counts[shard_for("default", f"wf-{i}", 16)] += 1
    assert min(counts) > 60
    with pytest.raises(ValueError):
        shard_for("default", "x", 0)


def test_names_escape_unsafe_characters() -> None:
    assert names.workflow_task_queue("default", "orders") == "tidal.tq.default.orders.workflow"
    assert names.workflow_task_queue("a.b", "c") != names.workflow_task_queue("a", "b.c")
    amqp_name = re.compile(r"^[A-Za-z0-9_.:-]+$")
    for odd in ("my queue", "a/b", "ü", "x%y", "pid@host", "a:b"):
        assert amqp_name.fullmatch(names.activity_task_queue("default", odd))
        assert amqp_name.fullmatch(names.sticky_queue(odd))
    assert names.history_queue(3) == "tidal.history.shard.3"


def test_json_schema_export_covers_every_family() -> None:
    schemas = message_schemas()
    assert set(schemas) == {
        "HistoryMessage",
        "MatchingMessage",
        "TaskMessage",
        "TimerMessage",
        "NotifyMessage",
        "Reply",
    }
    assert "StartWorkflowExecution" in str(schemas["HistoryMessage"])


def test_messages_re_exports_every_public_name_of_its_parts() -> None:
    """`tidal_schema.messages` is the public module; the `_*_messages.py` modules are its parts
    (split by the queue family they go to). Every class, function and constant a part defines
    is reachable from `messages` and in its `__all__`, so a split never drops a name."""
    import ast
    import importlib
    from pathlib import Path

    import tidal_schema.messages as messages

    package = Path(tidal_schema.__file__).parent
    parts = sorted(package.glob("_*_messages.py"))
    assert len(parts) >= 6, parts
    defined: set[str] = set()
    for part in parts:
        module = importlib.import_module(f"tidal_schema.{part.stem}")
        for node in ast.parse(part.read_text()).body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):  # constants (a type alias is the part's own)
                names = [t.id for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id] if node.target.id.isupper() else []
            else:
                names = []
            for name in names:
                if not name.startswith("_"):
                    defined.add(name)
                    assert getattr(messages, name) is getattr(module, name), name
    assert defined <= set(messages.__all__), sorted(defined - set(messages.__all__))
    assert all(hasattr(messages, name) for name in messages.__all__)
    assert len(messages.__all__) == len(set(messages.__all__))
