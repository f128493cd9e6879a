"""`lgcron run` as users start it: a separate process, configured only by its environment."""

from __future__ import annotations

import asyncio
import json
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


# ---------------------------------------------------------------- what stops `lgcron run` at once


async def test_lgcron_run_with_an_invalid_setting_exits_2_at_once_naming_it(kubeconfig_path):
    from test_cli_errors import assert_one_line_error, cli

    secret = "sk-never-echoed-7c1f"
    for env, named in (({"LGCRON_RESYNC_INTERVAL": "abc"}, "LGCRON_RESYNC_INTERVAL"),
                       ({"LGCRON_SERVER_CONCURRENCY": "0", "LGCRON_API_KEY": secret}, "LGCRON_SERVER_CONCURRENCY"),
                       ({"LGCRON_SERVER_URL": f"https://user:{secret}@agents.example.com"}, "LGCRON_SERVER_URL"),
                       ({"LGCRON_API_KEY_SECRET": "no-colon"}, "LGCRON_API_KEY_SECRET"),
                       ({"LGCRON_CA_BUNDLE": "/nonexistent/ca.pem"}, "LGCRON_CA_BUNDLE")):
        result = await cli("run", "-A", env=env, timeout=30)
        assert_one_line_error(result, "run", 2, named)
        assert secret not in result[2]


async def test_lgcron_run_without_a_kubeconfig_exits_2(tmp_path):
    from test_cli_errors import assert_one_line_error, cli

    result = await cli("run", "-A", env={"KUBECONFIG": str(tmp_path / "nonexistent")}, timeout=30)
    assert_one_line_error(result, "run", 2, "no usable Kubernetes credentials", "KUBECONFIG")


async def test_lgcron_run_with_the_kubernetes_api_down_exits_4(tmp_path):
    from test_cli_errors import assert_one_line_error, cli, dead_url

    server = dead_url()
    path = tmp_path / "down.kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "down",
        "clusters": [{"name": "down", "cluster": {"server": server}}], "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "down", "context": {"cluster": "down", "user": "u"}}]}))
    result = await cli("run", "-A", env={"KUBECONFIG": str(path)}, timeout=30)
    assert_one_line_error(result, "run", 4, f"cannot reach the Kubernetes API at {server}")


async def test_lgcron_run_without_permissions_exits_3(request, kube, kubeconfig_path, tmp_path):
    from test_cli_errors import assert_one_line_error, cli, refused

    async with refused(request, kube, kubeconfig_path, tmp_path, rules=[],
                       emulated=lambda url: "/apis/lgcron.io/" in url) as env:
        result = await cli("run", "--namespace", kube.namespace, env=env, timeout=30)
    assert_one_line_error(result, "run", 3, f"may not list langgraphcrons in namespace {kube.namespace}", "RBAC")


async def test_lgcron_run_without_the_crds_exits_2(tmp_path):
    """A Kubernetes API that does not serve lgcron.io (the CRDs are not installed): a stub that answers 404."""
    import aiohttp.web
    from test_cli_errors import assert_one_line_error, cli

    async def not_found(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404},
                                         status=404)

    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    path = tmp_path / "stub.kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {}}], "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u"}}]}))
    try:
        result = await cli("run", "-A", env={"KUBECONFIG": str(path)}, timeout=30)
    finally:
        await runner.cleanup()
    assert_one_line_error(result, "run", 2, "does not serve lgcron.io/v1alpha1", "lgcron crd | kubectl apply -f -")
