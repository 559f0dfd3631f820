"""The HTTP transport of `Client.connect`: httpx's client API on aiohttp's connection pool.

httpx's own pool (httpcore) walks every pooled connection for every request and parses HTTP in
pure Python; with a hundred calls in flight that cost a client about 5 CPU-ms per started
workflow (a start and a result long poll), aiohttp's pool and C parser about 0.2
(docs/performance.md, "Frontend and client"). `httpx.AsyncClient` stays the client's public
HTTP type (base URL, default headers, timeouts, event hooks, other transports in tests and the
embedded mode); only the bytes on the wire move to aiohttp. Errors come back as httpx's, so a
caller cannot tell which pool sent the request.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence

import aiohttp
import httpx

__all__ = ["MAX_CONNECTIONS", "AiohttpTransport"]

MAX_CONNECTIONS = 100
"""httpx's default pool size: a caller with more calls in flight waits for a connection."""

# Below uvicorn's default keep-alive timeout (5 s), so that the client, not the server, closes
# an idle connection: a request written to a connection the server is just closing would fail
# without knowing whether the server saw it.
_KEEPALIVE_SECONDS = 4.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session, opened on the first request (in the loop that makes it).

    What httpx owns stays with httpx: redirects (aiohttp's are off), cookies (aiohttp's jar is
    a dummy), proxies from the environment (httpx mounts its own transports for them; aiohttp
    does not read the environment), default headers and content decoding (aiohttp hands over
    the body as received)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        # httpx's default trust (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), as before.
        self._ssl = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._base: tuple[httpx.URL, str] | None = None

    def fresh(self) -> AiohttpTransport:
        """Another transport with the same TLS trust and its own connections."""
        return AiohttpTransport(ssl_context=self._ssl)

    def base_string(self, base_url: httpx.URL) -> str:
        """`base_url` as text (httpx ends it with "/"), kept while the client's stays the same."""
        if self._base is None or self._base[0] is not base_url:
            text = str(base_url)  # "http://h:1" when the path is just the "/" httpx added
            self._base = (base_url, text if text.endswith("/") else text + "/")
        return self._base[1]

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, ssl=self._ssl, keepalive_timeout=_KEEPALIVE_SECONDS
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        # The body is sent whole with its length, never chunked.
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k.lower() != b"transfer-encoding"
        ]
        status, reason, raw, content = await self.exchange(
            request.method,
            str(request.url),
            headers,
            body,
            request.extensions.get("timeout") or {},
            request=request,
        )
        return httpx.Response(
            status,
            headers=raw,
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
            request=request,
        )

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]] | Mapping[str, str],
        body: bytes,
        timeout: Mapping[str, float | None],
        *,
        request: httpx.Request | None = None,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """One request on the pool: (status, reason, raw headers, body as received). aiohttp's
        errors are raised as httpx's (`request` is what they name, if the caller has one)."""
        try:
            async with self._open().request(
                method,
                url,
                data=body or None,
                headers=headers,
                allow_redirects=False,
                timeout=_timeout(timeout),
            ) as resp:
                content = await resp.read()
                raw = list(resp.raw_headers)
                reason = (resp.reason or "").encode("latin-1", "replace")
                return resp.status, reason, raw, content
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading the response", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            # Nothing was sent (refused, unresolvable, TLS handshake): httpx's ConnectError too.
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc) or "server disconnected", request=request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _timeout(t: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's per-request timeouts: `pool` bounds the wait for a free connection plus the
    connect (aiohttp's `connect`), `connect` the TCP and TLS handshake, `read` each read."""
    pool, connect, read = t.get("pool"), t.get("connect"), t.get("read")
    whole_connect = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(total=None, connect=whole_connect, sock_connect=connect, sock_read=read)
