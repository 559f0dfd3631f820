"""The SDK's public surface is deliberate: changing it must be a visible decision."""

import tidal
import tidal.client
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
        "execute_local_activity",
        "start_local_activity",
        "ActivityCancellationType",
        "upsert_search_attributes",
    ):
        assert hasattr(workflow, fn), fn
    for fn in (
        "defn",
        "info",
        "heartbeat",
        "is_cancelled",
        "logger",
        "wait_for_cancelled",
        "wait_for_cancelled_sync",
        "raise_complete_async",
    ):
        assert hasattr(activity, fn), fn
    from tidal import client

    assert {"AsyncActivityHandle", "AsyncActivityCancelledError"} <= set(dir(client))
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
    for name in (
        "WorkflowExecution",
        "WorkflowExecutionAsyncIterator",
        "WorkflowExecutionCount",
        "WorkflowExecutionCountAggregationGroup",
    ):
        assert hasattr(tidal.client, name), name
    assert callable(tidal.client.Client.list_workflows) and callable(tidal.client.Client.count_workflows)


async def test_client_retries_unavailable_until_the_server_answers() -> None:
    """A 503 (history shard not ready yet) is retried with backoff; other errors are not."""
    import httpx
    from tidal.client import Client
    from tidal.exceptions import RPCError

    calls = {"n": 0}

    def app(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.url.path.endswith("/missing"):
            return httpx.Response(404, json={"code": "not_found", "detail": "no such workflow"})
        if calls["n"] < 3:
            return httpx.Response(
                503, json={"code": "unavailable", "detail": "history shard 7 is not available"}
            )
        return httpx.Response(200, json={"ok": True})

    client = Client(http=httpx.AsyncClient(transport=httpx.MockTransport(app), base_url="http://t"))
    assert await client._call("GET", "/x") == {"ok": True}
    assert calls["n"] == 3
    calls["n"] = 0
    try:
        await client._call("GET", "/missing")
    except RPCError as exc:
        assert exc.status == "not_found" and calls["n"] == 1
    else:
        raise AssertionError("404 must not be retried")
    impatient = Client(
        http=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(503, json={"code": "unavailable"})),
            base_url="http://t",
        ),
        rpc_retry_seconds=0.3,
    )
    try:
        await impatient._call("GET", "/x")
    except RPCError as exc:
        assert exc.status == "unavailable"
    else:
        raise AssertionError("gives up once rpc_retry_seconds has passed")
