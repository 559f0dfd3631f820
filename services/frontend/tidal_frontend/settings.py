"""The frontend's settings (environment variables with the TIDAL_ prefix, e.g. TIDAL_HTTP_PORT)."""

from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings


class FrontendSettings(CommonSettings):
    http_host: str = "127.0.0.1"
    # 0 means "do not open a socket": tests and in-process callers use the ASGI app directly.
    http_port: int = Field(default=7243, ge=0, le=65535)
    # How long a write waits for the owning history shard's reply before answering 503.
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Upper bound of `wait` on the result long poll: proxies and load balancers cut idle
    # connections, so clients re-poll rather than hold one request open for hours.
    long_poll_max_seconds: float = Field(default=60.0, ge=0)
    # The AMQP URL handed to SDK workers by GET /api/v1/cluster. Workers often reach the broker
    # through another address (or credentials) than the servers do; defaults to amqp_url.
    worker_amqp_url: str | None = None
    # The public AMQP command exchange (tidal.commands): consumed unless disabled; how many
    # commands each frontend process works on at once.
    commands_enabled: bool = True
    command_prefetch: int = Field(default=32, ge=1)
    # How long uvicorn lets open requests (long polls included) finish on stop.
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)
