"""The aiohttp transport under the Agent Server client (langgraph_cron/transport.py), on real sockets."""

from __future__ import annotations

import gzip
import json
import ssl

import aiohttp.web
import pytest
import trustme
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    ServerUnavailable,
    make_http_client,
)


@pytest.fixture
async def serve():
    """serve(handler, tls=None) -> base URL of an aiohttp server on a free localhost port."""
    runners = []

    async def start(handler, tls: ssl.SSLContext | None = None) -> str:
        app = aiohttp.web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = aiohttp.web.AppRunner(app)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_request_reaches_the_server_whole_and_the_gzip_response_is_decoded(serve):
    seen = {}

    async def handler(request):
        seen.update(method=request.method, path=request.path_qs, headers=dict(request.headers),
                    body=await request.json())
        body = gzip.compress(json.dumps({"ok": True, "echo": seen["body"]}).encode())
        return aiohttp.web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    url = await serve(handler)
    async with make_http_client(timeout=5.0) as http:
        response = await http.post(f"{url}/runs/crons/search?x=1", json={"metadata": {"k": "é"}},
                                   headers={"x-api-key": "k1"})
    assert response.status_code == 200 and response.json() == {"ok": True, "echo": {"metadata": {"k": "é"}}}
    assert (seen["method"], seen["path"]) == ("POST", "/runs/crons/search?x=1")
    assert seen["headers"]["x-api-key"] == "k1"
    assert seen["headers"]["User-Agent"] == "langgraph-cron-operator"
    assert seen["headers"]["Content-Type"] == "application/json"


async def test_redirects_are_returned_not_followed(serve):
    async def handler(request):
        return aiohttp.web.Response(status=307, headers={"Location": "http://elsewhere.invalid/"})

    url = await serve(handler)
    async with make_http_client(timeout=5.0) as http:
        response = await http.get(f"{url}/runs/crons/x")
    assert response.status_code == 307


async def test_a_connection_closed_without_a_response_is_server_unavailable(serve):
    async def handler(request):
        request.transport.close()
        raise aiohttp.web.HTTPInternalServerError  # never sent: the connection is gone

    url = await serve(handler)
    async with make_http_client(timeout=5.0) as http:
        with pytest.raises(ServerUnavailable, match=r"POST .*/runs/crons/count: RemoteProtocolError"):
            await AgentServerClient(http, url, "secret-key").count()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_url(serve, ca):
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_tls)

    async def handler(request):
        return aiohttp.web.json_response(7)

    return await serve(handler, tls=server_tls)


async def test_tls_is_verified_by_default(tls_url):
    async with make_http_client(timeout=5.0) as http:
        with pytest.raises(ServerUnavailable, match="ConnectError: TLS certificate verification failed"):
            await AgentServerClient(http, tls_url).count()


async def test_tls_with_a_ca_bundle_and_with_verification_off(tls_url, ca, tmp_path):
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with make_http_client(verify=str(bundle), timeout=5.0) as http:
        assert await AgentServerClient(http, tls_url).count() == 7
    async with make_http_client(verify=False, timeout=5.0) as http:
        assert await AgentServerClient(http, tls_url).count() == 7


async def test_the_shared_client_can_be_closed_before_any_request():
    http = make_http_client()
    await http.aclose()
    assert http.is_closed

