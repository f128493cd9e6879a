"""`lgcron run` as users start it: a separate process, configured only by its environment."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import pytest
from langgraph_cron.clients.devserver import free_port
from operator_helpers import lgcron_command

pytestmark = [pytest.mark.operator, pytest.mark.timeout(120)]


async def test_lgcron_run_reconciles_a_resource_and_serves_liveness_and_metrics(kube, kubeconfig_path, agent_server, tmp_path):
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig_path),
        "LGCRON_SERVER_URL": agent_server.url,
        "LGCRON_RESYNC_INTERVAL": "5",
        "LGCRON_METRICS_PORT": str(metrics_port),
    }
    log = (tmp_path / "operator.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *lgcron_command(), "run", "--namespace", kube.namespace, "--liveness", f"http://127.0.0.1:{port}/healthz",
        env=env, stdout=log, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await kube.create({"metadata": {"name": "via-cli"}, "spec": {"schedule": "0 9 1 1 *", "assistantId": "agent"}})
        obj = await kube.wait_for("via-cli", lambda o: o["status"]["cronId"] and o["status"]["conditions"][0]["status"] == "True")
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'lgcron_reconciles_total{backend="agentServer",result="ready"}' in metrics
        assert 'lgcron_managed_resources{backend="agentServer",ready="true"} 1.0' in metrics
        assert 'lgcron_agent_server_requests_total{code="200",endpoint="/runs/crons",method="POST"}' in metrics
        assert "lgcron_reconcile_duration_seconds_bucket" in metrics
        await kube.delete("via-cli")
        await kube.wait_gone("via-cli")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=30)
        log.close()
    output = (tmp_path / "operator.log").read_text()
    assert obj["status"]["serverUrl"] == agent_server.url
    assert process.returncode == 0, output


async def test_kill_9_between_create_and_status_write_leaves_exactly_one_cron(kube, kubeconfig_path, agent_server, tmp_path):
    from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client
    from tcp_proxy import TcpProxy

    proxy = await TcpProxy.started_for(agent_server.url)
    # The create reaches the server, but its response never reaches the operator.
    proxy.hold_responses_to = b"POST /runs/crons HTTP/1.1"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_path), "LGCRON_SERVER_URL": proxy.url,
           "LGCRON_REQUEST_TIMEOUT": "60"}

    async def start_operator(log_name: str) -> asyncio.subprocess.Process:
        log = (tmp_path / log_name).open("wb")
        return await asyncio.create_subprocess_exec(
            *lgcron_command(), "run", "--namespace", kube.namespace, env=env, stdout=log, stderr=log)

    async with make_http_client(timeout=10) as http:
        server = AgentServerClient(http, agent_server.url)
        first = await start_operator("first.log")
        second = None
        try:
            uid = (await kube.create({"metadata": {"name": "crash"},
                                      "spec": {"schedule": "0 9 1 1 *", "assistantId": "agent"}}))["metadata"]["uid"]
            for _ in range(200):
                if await server.search(metadata={"lgcron.io/uid": uid}):
                    break
                await asyncio.sleep(0.1)
            first.kill()
            await first.wait()
            orphan = await server.search(metadata={"lgcron.io/uid": uid})
            assert len(orphan) == 1, "the first operator must have created its cron before dying"
            assert "cronId" not in ((await kube.get("crash")).get("status") or {}), "killed after the status write"

            proxy.hold_responses_to = None
            second = await start_operator("second.log")
            obj = await kube.wait_for("crash", lambda o: o["status"]["conditions"][0]["status"] == "True")
            crons = await server.search(metadata={"lgcron.io/uid": uid})
            assert [c.cron_id for c in crons] == [orphan[0].cron_id] == [obj["status"]["cronId"]]
            await kube.delete("crash")
            await kube.wait_gone("crash")
            assert await server.search(metadata={"lgcron.io/uid": uid}) == []
        finally:
            for process in (first, second):
                if process is not None and process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(process.wait(), timeout=30)
            await proxy.close()
