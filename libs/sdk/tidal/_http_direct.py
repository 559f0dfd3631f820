"""A call of the frontend's API straight onto `Client.connect`'s aiohttp pool, past httpx's
client layer.

httpx's `AsyncClient.request` builds and merges URLs, headers, cookies and a `Request` and a
`Response` for every call: in a burst that was about 45% of a client's CPU (py-spy), more than
the pool and the HTTP parser under it (docs/performance.md, "The client's calls past httpx").
`httpx.AsyncClient` stays the client's public HTTP type: a call goes this way only when that
client would do nothing but send it, i.e. its transport is our `AiohttpTransport` and it has no
proxy mounts, auth, event hooks, cookies or redirect following, and the call has only a JSON
body, simple query parameters, headers and a timeout on an already percent-encoded path.
Anything else goes through httpx as before. What goes on the wire is what httpx would send
(its default headers, its JSON encoding, its query encoding); errors are httpx's, raised by the
transport, so the caller's `RPCError` mapping is the same."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from ._http_transport import AiohttpTransport

__all__ = ["path_segment", "send_direct"]

# What may stand in a path as it is (RFC 3986 pchar and "/", escapes included): anything else
# would need httpx's quoting, so such a call goes through httpx.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")
_KWARGS = frozenset({"json", "params", "headers", "timeout"})
_PRIMITIVE = (str, int, float, bool, type(None))


def path_segment(text: str) -> str:
    """`text` as one segment of a path, as httpx quotes it; unreserved characters only (ids as
    usually chosen) stand as they are without parsing a URL."""
    if _UNRESERVED.fullmatch(text):
        return text
    return httpx.URL(path=text).raw_path.decode()


def _plain(http: httpx.AsyncClient) -> bool:
    """The client adds nothing of its own to a call beyond its base URL, headers and timeout."""
    hooks = http.event_hooks
    return (
        not http._mounts
        and http.auth is None
        and not hooks["request"]
        and not hooks["response"]
        and not http.follow_redirects
        and not http.cookies
        and not http.base_url.query
        and not http.base_url.fragment
    )


def _query(params: Any) -> str | None:
    """httpx's encoding of simple parameters (JSON-style booleans, None as empty), or None when
    they are not simple."""
    if not isinstance(params, Mapping):
        return None
    items: list[tuple[str, str]] = []
    for k, v in params.items():
        if not isinstance(k, str) or not isinstance(v, _PRIMITIVE):
            return None
        items.append((k, "true" if v is True else "false" if v is False else "" if v is None else str(v)))
    return urlencode(items)


async def send_direct(
    http: httpx.AsyncClient, method: str, path: str, kwargs: Mapping[str, Any]
) -> tuple[int, str, bytes] | None:
    """(status, reason, body) of the call sent on the pool, or None: send it through httpx. For
    a redirect (3xx) the body is the Location header's value."""
    transport = http._transport
    if type(transport) is not AiohttpTransport or not kwargs.keys() <= _KWARGS:
        return None
    if not _SAFE_PATH.fullmatch(path) or not _plain(http):
        return None
    url = transport.base_string(http.base_url) + path[1:]
    params = kwargs.get("params")
    if params:
        query = _query(params)
        if query is None:
            return None
        url = f"{url}?{query}"
    extra = kwargs.get("headers")
    if extra is not None and not isinstance(extra, Mapping):
        return None
    headers: dict[str, tuple[str, str]] = {}
    for raw_key, raw_value in http.headers.raw:
        key = raw_key.decode("latin-1")
        headers[key.lower()] = (key, raw_value.decode("latin-1"))
    body = b""
    if "json" in kwargs:
        body = json.dumps(kwargs["json"], ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        headers["content-type"] = ("Content-Type", "application/json")
    if extra:
        for k, v in extra.items():
            headers[k.lower()] = (k, v)
    timeout = httpx.Timeout(kwargs["timeout"]) if "timeout" in kwargs else http.timeout
    status, reason, raw, content = await transport.exchange(
        method, url, list(headers.values()), body, timeout.as_dict()
    )
    if any(k.lower() in (b"content-encoding", b"set-cookie") for k, _ in raw):
        # Rare: httpx decodes the body and keeps the cookie, as it would have.
        resp = httpx.Response(
            status, headers=raw, stream=httpx.ByteStream(content), request=httpx.Request(method, url)
        )
        await resp.aread()
        http.cookies.extract_cookies(resp)
        content = resp.content
    if 300 <= status < 400:
        # Not followed (httpx would not either): the caller names where it pointed.
        location = next((v for k, v in raw if k.lower() == b"location"), b"")
        return status, reason.decode("ascii", errors="ignore"), location
    return status, reason.decode("ascii", errors="ignore"), content
