"""Write deploy/rabbitmq/definitions.json: the per-service RabbitMQ users of
scripts/rabbitmq-users.sh (the one place their permissions are written down), as a definitions
file RabbitMQ loads at boot. docker compose uses it, so each service connects as its own
least-privileged user.

    uv run python scripts/rabbitmq_definitions.py          # regenerate
    uv run python scripts/rabbitmq_definitions.py --check  # fail if the committed file is stale

The passwords are compose's development defaults (each user's name; `tidal`/`tidal` for the
administrator): change them for anything but a laptop (docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rabbitmq-users.sh"
OUT = ROOT / "deploy" / "rabbitmq" / "definitions.json"
ADMIN = "tidal"


def permissions() -> dict[str, tuple[str, str, str]]:
    """user -> (configure, write, read), parsed from the shell script's PERMS block."""
    text = SCRIPT.read_text()
    dl = re.search(r"^DL='([^']*)'", text, re.M)
    block = re.search(r'^PERMS="\n(.*?)^"', text, re.M | re.S)
    assert dl is not None and block is not None, "rabbitmq-users.sh changed shape"
    fields = block.group(1).replace("${DL}", dl.group(1)).replace("\\$", "$").split()
    assert len(fields) % 4 == 0
    return {fields[i]: (fields[i + 1], fields[i + 2], fields[i + 3]) for i in range(0, len(fields), 4)}


def password_hash(user: str, password: str) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password)). The
    salt is derived from the user name so the file is reproducible (and checkable in CI)."""
    salt = hashlib.sha256(f"tidal-dev-salt:{user}".encode()).digest()[:4]
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions() -> dict[str, Any]:
    perms = permissions()
    users = [{"name": ADMIN, "password_hash": password_hash(ADMIN, ADMIN), "tags": ["administrator"]}]
    users += [{"name": u, "password_hash": password_hash(u, u), "tags": []} for u in perms]
    return {
        "rabbit_version": "3.10.0",
        "users": [{**u, "hashing_algorithm": "rabbit_password_hashing_sha256"} for u in users],
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": ADMIN, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]
        + [
            {"user": u, "vhost": "/", "configure": c, "write": w, "read": r} for u, (c, w, r) in perms.items()
        ],
    }


def main(argv: list[str]) -> int:
    text = json.dumps(definitions(), indent=2) + "\n"
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run `uv run python scripts/rabbitmq_definitions.py`")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
