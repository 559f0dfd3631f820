"""How a client call's interceptor fields travel over HTTP (shared by the call modules)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tidal_schema import Payload

__all__ = ["http_options", "wire_header"]


def http_options(rpc_metadata: Mapping[str, str | bytes], rpc_timeout: timedelta | None) -> dict[str, Any]:
    """`rpc_metadata` as HTTP headers of the call and `rpc_timeout` as its timeout."""
    options: dict[str, Any] = {}
    if rpc_metadata:
        options["headers"] = {k: v.decode() if isinstance(v, bytes) else v for k, v in rpc_metadata.items()}
    if rpc_timeout is not None:
        options["timeout"] = rpc_timeout.total_seconds()
    return options


def wire_header(headers: Mapping[str, Payload]) -> dict[str, Any]:
    return {k: p.model_dump(mode="json") for k, p in headers.items()}
