from __future__ import annotations

from pydantic import Field
from tidal_server.settings import CommonSettings


class MatchingSettings(CommonSettings):
    prefetch: int = Field(default=1024, ge=1)
