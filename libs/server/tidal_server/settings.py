"""Settings shared by every service. Each service subclasses `CommonSettings` once, builds it at
start-up and passes it down; nothing reads the environment after that."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from tidal_schema import DEFAULT_SHARD_COUNT
from tidal_schema.limits import MESSAGE_MAX_BYTES


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDAL_", extra="ignore", frozen=True)

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672"
    database_url: str = "postgresql+asyncpg://tidal:tidal@127.0.0.1:5432/tidal"
    # Fixed per cluster: changing it re-homes every workflow, so all services must agree.
    shard_count: int = Field(default=DEFAULT_SHARD_COUNT, ge=1, le=4096)
    log_level: str = "INFO"
    metrics_port: int | None = None
    """Port of the ops HTTP server (/metrics, /healthz, /readyz) of `tidal-server run`; None: off."""
    metrics_host: str = "0.0.0.0"
    member_id: str | None = None
    # Largest message body any service publishes (docs/configuration.md#limits): keep it well
    # below the broker's max_message_size (RabbitMQ 3.10: 128 MiB), which closes the publishing
    # channel instead of refusing one message.
    max_message_bytes: int = Field(default=MESSAGE_MAX_BYTES, ge=64 * 1024)
    # TLS (docs/security.md). AMQP: use an amqps:// URL; this CA file is added to it as the
    # `cafile` URL parameter aio-pika understands (unless the URL already names one; client
    # certificates go in the URL too: `certfile`, `keyfile`).
    amqp_ca_file: str | None = None
    # Postgres: verify the server's certificate against this CA (asyncpg, full verification).
    # Encryption without verification needs only `?ssl=require` in TIDAL_DATABASE_URL.
    database_ca_file: str | None = None

    def amqp_connection_url(self) -> str:
        """`amqp_url` with `amqp_ca_file` applied."""
        url = self.amqp_url
        if not self.amqp_ca_file or "cafile=" in url:
            return url
        return f"{url}{'&' if '?' in url else '?'}cafile={quote(self.amqp_ca_file, safe='/')}"
