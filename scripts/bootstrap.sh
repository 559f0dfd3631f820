#!/usr/bin/env bash
# Prepare a checkout for development and tests. Idempotent: safe to run on every
# `make test`, it only does work for what is missing.
#
#   scripts/bootstrap.sh                 uv + the workspace's dependencies
#   scripts/bootstrap.sh --test-servers  ... plus what the tests need: the RabbitMQ/Postgres
#                                        binaries (unless Docker or TIDAL_TEST_*_URL make
#                                        them unnecessary), Debian's prometheus (promtool),
#                                        amqp-tools and chromium (the web UI's browser
#                                        tests, driven by Playwright), and helm + kubectl
#                                        in .tools/bin
#
# It never starts the system RabbitMQ/Postgres/Prometheus services: the test fixtures
# start private, throwaway servers on free ports (tests/support/servers.py).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_test_servers=0
for arg in "$@"; do
    case "$arg" in
        --test-servers) want_test_servers=1 ;;
        -h | --help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bootstrap: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { printf 'bootstrap: %s\n' "$*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# pip --user (the fallback for non-root users) puts uv here; make it visible to
# this script and, via the Makefile's PATH, to the commands that follow.
export PATH="$HOME/.local/bin:$PATH"

# ---------------------------------------------------------------- uv
if ! command -v uv >/dev/null 2>&1; then
    log "uv not found; installing it with pip"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        if is_root && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
        else
            log "python3 has no pip; install uv yourself: https://docs.astral.sh/uv/ (or 'apt-get install -y python3-pip')"
            exit 1
        fi
    fi
    # uv is a self-contained binary, so installing it next to Debian's Python
    # (PEP 668 "externally managed") cannot break system packages.
    pip_args=(install --quiet --disable-pip-version-check "uv>=0.13,<1")
    is_root || pip_args+=(--user)
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip "${pip_args[@]}"
    hash -r
    command -v uv >/dev/null 2>&1 || {
        log "uv was installed but is not on PATH ($PATH)"
        exit 1
    }
fi
log "using $(uv --version)"

# ---------------------------------------------------------------- Python deps
if [ -f uv.lock ]; then
    # --frozen: CI and fresh clones must get exactly the locked versions.
    uv sync --frozen
else
    log "no uv.lock; resolving dependencies"
    uv sync
fi

[ "$want_test_servers" -eq 1 ] || exit 0

# ---------------------------------------------------------------- test servers and tools
docker_answers() {
    [ -z "${TIDAL_TEST_NO_DOCKER:-}" ] || return 1
    command -v docker >/dev/null 2>&1 || return 1
    # A docker CLI without a daemon is common (as on the dev machines); ask the daemon.
    timeout 10 docker info >/dev/null 2>&1
}

have_rabbitmq() {
    [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1
}
have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1
}

missing=()
if docker_answers; then
    log "a Docker engine answers; tests will use testcontainers for RabbitMQ and Postgres"
else
    if [ -z "${TIDAL_TEST_AMQP_URL:-}" ] && ! have_rabbitmq; then
        missing+=(rabbitmq-server)
    fi
    if [ -z "${TIDAL_TEST_DATABASE_URL:-}" ] && ! have_postgres; then
        missing+=(postgresql)
    fi
fi
# Tools some tests drive as real clients/validators: promtool (alert rules, Prometheus
# config), amqp-publish/amqp-consume (publishing commands from outside Python) and a
# browser for the web UI tests.
tools_missing=()
command -v promtool >/dev/null 2>&1 || tools_missing+=(prometheus)
command -v amqp-publish >/dev/null 2>&1 || tools_missing+=(amqp-tools)
# Playwright (a dev dependency) drives this browser; `playwright install` is never used.
[ -x /usr/bin/chromium ] || tools_missing+=(chromium)

if [ "${#missing[@]}" -eq 0 ] && [ "${#tools_missing[@]}" -eq 0 ]; then
    log "test servers and tools: present (or not needed); nothing to install"
elif ! is_root || ! command -v apt-get >/dev/null 2>&1; then
    if [ "${#missing[@]}" -gt 0 ]; then
        log "the tests need RabbitMQ and Postgres and found neither a Docker engine nor the binaries."
        log "install them (as root):  apt-get install -y ${missing[*]}"
        log "or point the tests at running servers: TIDAL_TEST_AMQP_URL=amqp://... TIDAL_TEST_DATABASE_URL=postgresql+asyncpg://..."
        exit 1
    fi
    # Only validators are missing: the tests that need them skip (or fail under CI=1).
    log "some tests need: apt-get install -y ${tools_missing[*]}  (run as root to install)"
else
    packages=("${missing[@]}" "${tools_missing[@]}")
    log "installing ${packages[*]}"
    # Keep the packages' maintainer scripts from starting the system services (they
    # would take ports 5672/5432/9090 and the shared epmd for nothing), unless the
    # machine already has a policy in place (Docker images ship one that does the same).
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        own_policy=1
        trap '[ "$own_policy" -eq 1 ] && rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
    log "installed ${packages[*]}"
fi

# helm and kubectl for tests/deploy (idempotent; a no-op when present).
scripts/fetch-tools.sh
