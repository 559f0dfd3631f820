"""TLS settings are wired: HTTPS from the frontend's cert/key settings (a real TLS handshake),
mutual TLS options reach uvicorn, the AMQP CA file reaches the URL aio-pika reads, and the
database CA file makes the Postgres driver insist on TLS."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tidal_frontend.app import FrontendService
from tidal_server.db import create_engine
from tidal_server.embedded import EmbeddedServer
from tidal_server.settings import CommonSettings

from tests.support.servers import Postgres
from tests.support.stack import free_port


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return crt, key


@pytest.fixture
async def https_server(
    cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedServer]:
    monkeypatch.setenv("TIDAL_HTTP_TLS_CERTFILE", str(cert[0]))
    monkeypatch.setenv("TIDAL_HTTP_TLS_KEYFILE", str(cert[1]))
    server = EmbeddedServer(http_port=free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_frontend_serves_https(https_server: EmbeddedServer, cert: tuple[Path, Path]) -> None:
    port = https_server.http_port
    trust = ssl.create_default_context(cafile=str(cert[0]))
    async with httpx.AsyncClient(verify=trust) as http:
        r = await http.get(f"https://127.0.0.1:{port}/api/v1/namespaces")
        assert r.status_code == 200 and r.json()["namespaces"][0]["name"] == "default"
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.HTTPError):  # plain HTTP to a TLS port is not served
            await http.get(f"http://127.0.0.1:{port}/healthz")


async def test_mutual_tls_settings_reach_uvicorn(
    https_server: EmbeddedServer, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    frontend = https_server.services["frontend"]
    assert isinstance(frontend, FrontendService)
    config = frontend.uvicorn_config()
    assert (config.ssl_certfile, config.ssl_keyfile) == (str(cert[0]), str(cert[1]))
    assert config.ssl_ca_certs is None
    monkeypatch.setenv("TIDAL_HTTP_TLS_CA_CERTS", str(cert[0]))
    from tidal_frontend.settings import FrontendSettings

    mtls = FrontendService(https_server.runtime, FrontendSettings(http_port=0))  # type: ignore[arg-type]
    config = mtls.uvicorn_config()
    assert config.ssl_ca_certs == str(cert[0]) and config.ssl_cert_reqs == ssl.CERT_REQUIRED
    monkeypatch.delenv("TIDAL_HTTP_TLS_KEYFILE")
    with pytest.raises(ValueError, match="http_tls_keyfile"):
        FrontendSettings()


def test_amqp_ca_file_goes_into_the_url() -> None:
    plain = CommonSettings(amqp_url="amqps://u:p@broker:5671/tidal")
    assert plain.amqp_connection_url() == "amqps://u:p@broker:5671/tidal"
    with_ca = CommonSettings(amqp_url="amqps://u:p@broker:5671/tidal", amqp_ca_file="/etc/tidal/ca.pem")
    assert with_ca.amqp_connection_url() == "amqps://u:p@broker:5671/tidal?cafile=/etc/tidal/ca.pem"
    both = CommonSettings(amqp_url="amqps://broker/x?heartbeat=5", amqp_ca_file="/ca.pem")
    assert both.amqp_connection_url() == "amqps://broker/x?heartbeat=5&cafile=/ca.pem"


async def test_database_ca_file_makes_the_driver_require_tls(
    postgres: Postgres, cert: tuple[Path, Path]
) -> None:
    if postgres.mode != "local":
        pytest.skip("the private local Postgres (no TLS) shows the refusal")
    engine = create_engine(postgres.url, ssl_ca_file=str(cert[0]))
    try:
        with pytest.raises(Exception, match=r"(?i)ssl|tls"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
