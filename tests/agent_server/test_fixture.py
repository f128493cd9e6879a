"""The agent_server fixture itself: readiness, outage simulation, restart semantics."""

import asyncio

import httpx
import pytest
from langgraph_cron.clients.agent_server import ServerUnavailable

from tests.agent_server.helpers import UID_KEY, cron_body
from tests.agent_server_fixture import AgentServerProcess

pytestmark = pytest.mark.agent_server


async def test_server_is_ready_and_has_both_graphs(agent_server, raw):
    assert agent_server.is_running and agent_server.url.startswith("http://127.0.0.1:")
    assert (await raw.get("/ok")).json()["ok"] is True
    graphs = {a["graph_id"] for a in (await raw.post("/assistants/search", json={})).json()}
    assert graphs == {"agent", "failing"}


async def test_server_working_dir_is_a_temp_dir_with_its_log(agent_server):
    assert (agent_server.workdir / ".langgraph_api").is_dir()
    assert "Application startup complete" in agent_server.log_tail(1000)


async def test_stopped_server_is_unavailable_until_started_again_on_the_same_port(agent_server, client, uid):
    cron = await client.create(cron_body(uid))
    url = agent_server.url
    agent_server.stop()
    assert not agent_server.is_running
    with pytest.raises(ServerUnavailable):
        await client.get(cron.cron_id)
    agent_server.start()
    assert agent_server.url == url
    await client.delete(cron.cron_id)


async def test_graceful_restart_keeps_crons(agent_server, client, uid):
    cron = await client.create(cron_body(uid))
    agent_server.stop()
    agent_server.start()
    assert await client.get(cron.cron_id) == cron
    await client.delete(cron.cron_id)


async def test_killed_server_comes_back_without_crons_created_since_the_last_graceful_stop(agent_server, client, uid):
    await client.create(cron_body(uid))
    # In threads: the client's event loop keeps running and sees its connections close, as an
    # operator's does while a server restarts.
    await asyncio.to_thread(agent_server.stop, kill=True)
    await asyncio.to_thread(agent_server.start)
    assert await client.count(metadata={UID_KEY: uid}) == 0


async def test_fresh_start_forgets_crons_saved_by_a_graceful_stop(agent_server, client, uid):
    await client.create(cron_body(uid))
    await asyncio.to_thread(agent_server.stop)
    await asyncio.to_thread(agent_server.start, fresh=True)
    assert await client.count() == 0


async def test_default_assistant_ids_are_stable_across_restarts(agent_server, raw):
    async def ids():
        return sorted(a["assistant_id"] for a in (await raw.post("/assistants/search", json={})).json())

    before = await ids()
    agent_server.stop()
    agent_server.start()
    assert await ids() == before  # uuid5 of the graph id


def test_test_left_the_server_stopped(agent_server):
    agent_server.stop()  # the autouse guard must restart it for the next test


def test_guard_restarted_the_server(agent_server):
    assert agent_server.is_running
    assert httpx.get(f"{agent_server.url}/ok").status_code == 200


def test_startup_failure_reports_the_log_tail(tmp_path):
    server = AgentServerProcess({"agent": "/nonexistent/graph.py:graph"}, workdir=tmp_path, startup_timeout=30)
    with pytest.raises(RuntimeError, match="(?s)Agent Server .*graph"):
        server.start()
    assert not server.is_running
