"""The frontend's settings (environment variables with the TIDAL_ prefix, e.g. TIDAL_HTTP_PORT)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from tidal_server.settings import CommonSettings


class FrontendSettings(CommonSettings):
    http_host: str = "127.0.0.1"
    # 0 means "do not open a socket": tests and in-process callers use the ASGI app directly.
    http_port: int = Field(default=7243, ge=0, le=65535)
    # How long a write waits for the owning history shard's reply before answering 503.
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # How long a request's body may take to arrive once its headers are in; then 408 and the
    # connection closed. uvicorn has no read timeout: a client sending its body slowly (slow
    # loris) would hold its connection for as long as it kept it open.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
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

    # --- namespaces, auth, rate limits, TLS (docs/security.md, docs/http-api.md) -------------
    # How long a namespace lookup is cached: another frontend's namespace changes show within it.
    namespace_cache_seconds: float = Field(default=5.0, ge=0)
    # Off by default (dev mode, embedded, tests); with it on every /api/v1 request needs
    # `Authorization: Bearer <api key>`.
    auth_enabled: bool = False
    # A key accepted as admin of every namespace without a database row (bootstrap, break-glass).
    # Prefer `tidal-server api-key create --namespace '*' --role admin`.
    auth_bootstrap_key: SecretStr | None = Field(default=None, min_length=32)
    # How long a verified key is trusted before it is looked up again (revocation delay).
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    # Per-namespace token bucket for workflow starts, per frontend process; None = unlimited.
    start_rate_limit_per_second: float | None = Field(default=None, gt=0)
    start_rate_limit_burst: int = Field(default=100, ge=1)
    # HTTPS: both files to serve TLS (uvicorn's ssl_certfile / ssl_keyfile); a CA file makes
    # uvicorn ask clients for certificates signed by it.
    http_tls_certfile: str | None = None
    http_tls_keyfile: str | None = None
    http_tls_ca_certs: str | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> FrontendSettings:
        if bool(self.http_tls_certfile) != bool(self.http_tls_keyfile):
            raise ValueError("set both http_tls_certfile and http_tls_keyfile (or neither)")
        if self.http_tls_ca_certs and not self.http_tls_certfile:
            raise ValueError("http_tls_ca_certs needs http_tls_certfile and http_tls_keyfile")
        return self
