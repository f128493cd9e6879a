"""Fixtures for tests against the real in-memory Agent Server (`agent_server` fixture).

All tests share one server, so each test isolates its crons with a unique metadata value (`uid`)
and deletes what it created where leftovers could disturb others (fast-firing schedules).
Plain helpers live in helpers.py.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from langgraph_cron.agent_server import AgentServerClient, make_http_client


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
