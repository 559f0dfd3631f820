# syntax=docker/dockerfile:1.7
#
# One image for every Tidal server process, plus an example worker image:
#
#   docker build -t tidal .                       # the server (default, last stage)
#   docker run tidal run history                  # any service: history|matching|timer|frontend
#   docker run tidal migrate                      # the schema migration job
#   docker build --target worker -t tidal-worker .    # examples/worker.py (sample workflows)
#
# Settings are TIDAL_* environment variables (docs/configuration.md, docs/deploy.md).

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---------------------------------------------------------------- build: the venv, nothing else
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/tidal
WORKDIR /src

# Third-party dependencies first, from the lock file alone: this layer survives code changes.
COPY pyproject.toml uv.lock ./
COPY libs/schema/pyproject.toml libs/schema/
COPY libs/amqp/pyproject.toml libs/amqp/
COPY libs/sdk/pyproject.toml libs/sdk/
COPY libs/server/pyproject.toml libs/server/
COPY services/frontend/pyproject.toml services/frontend/
COPY services/history/pyproject.toml services/history/
COPY services/matching/pyproject.toml services/matching/
COPY services/timer/pyproject.toml services/timer/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# Then the workspace packages themselves, installed as wheels (--no-editable) so the runtime
# image needs no source tree.
COPY libs/ libs/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------- runtime base
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 tidal \
    && useradd --system --uid 10001 --gid tidal --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin tidal
# Owned by root and read-only for the service user: the process cannot modify its own code.
COPY --from=build /opt/tidal /opt/tidal
COPY deploy/docker/healthcheck.py /usr/local/bin/tidal-healthcheck
ENV PATH=/opt/tidal/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TIDAL_HTTP_HOST=0.0.0.0
WORKDIR /home/tidal
USER 10001:10001
# Probes the frontend's /healthz, a service's ops server (TIDAL_METRICS_PORT) or a worker's
# metrics port (TIDAL_WORKER_METRICS_PORT), whichever this container runs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/tidal-healthcheck"]

# ---------------------------------------------------------------- example worker
FROM runtime AS worker
COPY examples/hello.py examples/worker.py /opt/tidal-examples/
ENV TIDAL_WORKER_METRICS_PORT=9104
EXPOSE 9104
ENTRYPOINT ["python", "/opt/tidal-examples/worker.py"]

# ---------------------------------------------------------------- server (default target)
FROM runtime AS server
# 7243: frontend HTTP API; 9101-9103: ops servers of history, matching, timer (/metrics, /healthz, /readyz).
EXPOSE 7243 9101 9102 9103
ENTRYPOINT ["tidal-server"]
CMD ["--help"]
