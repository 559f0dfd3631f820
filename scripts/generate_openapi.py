"""Write the frontend's OpenAPI document to docs/openapi.json (`--check`: fail if it differs).

    uv run python scripts/generate_openapi.py          # regenerate
    uv run python scripts/generate_openapi.py --check  # what tests/test_openapi.py asserts

The document is what `GET /api/v1/openapi.json` serves; building it needs no server running.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    from tidal_frontend.app import create_app
    from tidal_frontend.context import FrontendContext
    from tidal_frontend.settings import FrontendSettings
    from tidal_server.bus import InMemoryBus
    from tidal_server.db import create_engine

    # Fixed settings (not the environment): the document must not depend on who generates it.
    settings = FrontendSettings(_env_file=None, http_port=0)  # type: ignore[call-arg]
    ctx = FrontendContext(
        bus=InMemoryBus(),
        engine=create_engine("sqlite+aiosqlite:///:memory:"),
        settings=settings,
        shard_count=16,
    )
    return create_app(ctx).openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.json is out of date")
    args = parser.parse_args(argv)
    text = render(openapi_document())
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(
                f"{TARGET} is out of date: run `uv run python scripts/generate_openapi.py`", file=sys.stderr
            )
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
