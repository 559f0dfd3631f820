"""Async activity completion routes: bad input is a 400 problem and never reaches history (the
happy paths run end to end in tests/e2e/test_activities.py)."""

from __future__ import annotations

import httpx
from tidal_schema.task_token import ActivityTaskToken

from .conftest import FakeHistory

BASE = "/api/v1/namespaces/default/activities"


def _token(namespace: str = "default") -> str:
    t = ActivityTaskToken(namespace=namespace, workflow_id="w", run_id="r", scheduled_event_id=5, attempt=1)
    return t.encode().decode()


async def test_bad_tokens_and_bodies_are_400(client: httpx.AsyncClient, fake_history: FakeHistory) -> None:
    before = len(fake_history.received)
    cases = [
        ("complete", {"task_token": "not a token!", "args": [1]}, "not a Tidal activity task token"),
        ("heartbeat", {"task_token": _token("other")}, "namespace 'other'"),
        ("fail", {"task_token": _token()}, "failure"),
        ("cancel", {"task_token": _token(), "bogus": 1}, "bogus"),
        ("complete", {"task_token": _token(), "args": [1], "input": []}, "not both"),
    ]
    for op, body, needle in cases:
        r = await client.post(f"{BASE}/{op}", json=body)
        assert r.status_code == 400, (op, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert needle in r.text, (op, r.text)
    assert len(fake_history.received) == before


def test_task_token_round_trip() -> None:
    t = ActivityTaskToken(namespace="ns", workflow_id="a/b", run_id="r", scheduled_event_id=9, attempt=3)
    assert ActivityTaskToken.decode(t.encode()) == t
    assert ActivityTaskToken.decode(t.encode().decode()) == t
