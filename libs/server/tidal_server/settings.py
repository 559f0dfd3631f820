"""Settings shared by every service. Each service subclasses `CommonSettings` once, builds it at
start-up and passes it down; nothing reads the environment after that."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from tidal_schema import DEFAULT_SHARD_COUNT


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
