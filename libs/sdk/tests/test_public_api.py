"""The SDK's public surface is deliberate: changing it must be a visible decision."""

import tidal
import tidal.common
import tidal.exceptions


def test_top_level_api_is_pinned() -> None:
    assert tidal.__all__ == [
        "Client",
        "RetryPolicy",
        "Worker",
        "WorkflowHandle",
        "activity",
        "client",
        "common",
        "converter",
        "exceptions",
        "worker",
        "workflow",
    ]
    for name in tidal.__all__:
        assert getattr(tidal, name) is not None


def test_temporal_names_exist_where_temporal_users_look_for_them() -> None:
    from tidal import activity, workflow

    for fn in (
        "defn",
        "run",
        "signal",
        "query",
        "execute_activity",
        "start_activity",
        "sleep",
        "wait_condition",
        "now",
        "random",
        "uuid4",
        "info",
        "logger",
        "patched",
    ):
        assert hasattr(workflow, fn), fn
    for fn in ("defn", "info", "heartbeat", "is_cancelled", "logger"):
        assert hasattr(activity, fn), fn
    for name in (
        "ApplicationError",
        "ActivityError",
        "WorkflowFailureError",
        "NondeterminismError",
        "TimeoutError",
        "CancelledError",
        "TerminatedError",
        "WorkflowAlreadyStartedError",
    ):
        assert issubclass(getattr(tidal.exceptions, name), tidal.exceptions.TidalError), name
    assert {"WorkflowIDReusePolicy", "WorkflowIDConflictPolicy", "RetryPolicy"} <= set(dir(tidal.common))
