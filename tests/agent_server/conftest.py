"""Fixtures for tests against the real in-memory Agent Server (`agent_server` fixture).

All tests share one server, so each test isolates its crons with a unique metadata value (`uid`)
and deletes what it created where leftovers could disturb others (fast-firing schedules).
Plain helpers live in helpers.py.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client


@pytest.fixture
async def http():
    async with make_http_client(timeout=10.0) as client:
        yield client


@pytest.fixture
def client(http, agent_server) -> AgentServerClient:
    return AgentServerClient(http, agent_server.url)


@pytest.fixture
async def raw(agent_server):
    """Plain httpx on the server, for endpoints outside the client (threads, runs) and raw responses."""
    async with httpx.AsyncClient(base_url=agent_server.url, timeout=10.0) as c:
        yield c


@pytest.fixture
def uid(request) -> str:
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def cleanup(client):
    """Register cron ids to delete at teardown (ignores ones already gone)."""
    ids: list[str] = []
    yield ids
    for cron_id in ids:
        try:
            await client.delete(cron_id)
        except Exception:
            pass


class Recorder(httpx.AsyncBaseTransport):
    """Forwards to the real server; records every request (and the host and API key it went to),
    the peak in flight, and can lose one response (the server acts on the request, the caller
    sees a connection error)."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.requests: list[str] = []
        self.sent: list[tuple[str, str | None]] = []  # (host, x-api-key or None)
        self.in_flight = self.peak = 0
        self.lose_response_of: str | None = None  # "METHOD /path"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        what = f"{request.method} {request.url.path}"
        self.requests.append(what)
        self.sent.append((request.url.host, request.headers.get("x-api-key")))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.01)  # let concurrent callers pile up, if nothing holds them back
            response = await self._real.handle_async_request(request)
            await response.aread()
        finally:
            self.in_flight -= 1
        if what == self.lose_response_of:
            self.lose_response_of = None
            raise httpx.ReadError("connection reset (test: response lost)", request=request)
        return response

    async def aclose(self) -> None:
        await self._real.aclose()

    def keys_sent_to(self, host: str) -> set[str | None]:
        return {key for sent_host, key in self.sent if sent_host == host}


@pytest.fixture
async def recorder():
    transport = Recorder()
    yield transport
    await transport.aclose()
