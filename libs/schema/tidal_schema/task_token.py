"""The task token of an activity attempt (Temporal's `task_token`): enough to address the attempt
from outside the worker, for async completion. Opaque bytes to users; URL-safe base64 of JSON."""

from __future__ import annotations

import base64
import binascii

from pydantic import ValidationError

from .common import Frozen


class InvalidTaskTokenError(ValueError):
    """The bytes are not a task token Tidal issued."""


class ActivityTaskToken(Frozen):
    namespace: str
    workflow_id: str
    run_id: str
    scheduled_event_id: int
    attempt: int
    activity_id: str = ""

    def encode(self) -> bytes:
        return base64.urlsafe_b64encode(self.model_dump_json().encode())

    @classmethod
    def decode(cls, token: bytes | str) -> ActivityTaskToken:
        raw = token.encode() if isinstance(token, str) else token
        try:
            return cls.model_validate_json(base64.urlsafe_b64decode(raw))
        except (ValidationError, binascii.Error, ValueError) as exc:
            raise InvalidTaskTokenError(f"not a Tidal activity task token: {exc}") from None
