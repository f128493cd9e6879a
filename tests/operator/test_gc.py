"""Orphaned crons end to end: `lgcron audit` as a process, and the operator's periodic GC.

Each test tags its crons with its own cluster id, so the crons other tests leave on the shared
Agent Server are another cluster's to this one and never look like orphans here.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid

import pytest
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    Cron,
    CronNotFound,
)
from operator_helpers import FAR_AWAY, crons_of, is_ready, lgcron, resource, wait_until

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]


@pytest.fixture
def cluster(monkeypatch) -> str:
    cluster_id = f"gc-test-{secrets.token_hex(4)}"
    monkeypatch.setenv("LGCRON_CLUSTER_ID", cluster_id)
    return cluster_id


@pytest.fixture
async def plant(server):
    """`await plant(namespace, name, uid=..., cluster=...)`: a cron made behind the operator's back."""
    planted: list[str] = []

    async def make(namespace: str, name: str, *, uid: str | None = None, cluster: str | None = None) -> Cron:
        tags = {"lgcron.io/namespace": namespace, "lgcron.io/name": name, "lgcron.io/assistant": "agent"}
        if uid:
            tags["lgcron.io/uid"] = uid
        if cluster:
            tags["lgcron.io/cluster"] = cluster
        cron = await server.create({"assistant_id": "agent", "schedule": FAR_AWAY, "input": {}, "metadata": tags})
        planted.append(cron.cron_id)
        return cron

    yield make
    for cron_id in planted:
        with contextlib.suppress(AgentServerError):
            await server.delete(cron_id)


async def exists(server: AgentServerClient, cron: Cron) -> bool:
    try:
        await server.get(cron.cron_id)
    except CronNotFound:
        return False
    return True


async def test_audit_lists_exactly_the_orphans_and_delete_removes_only_them(
    kube, operator, server, agent_server, plant, cluster
):
    async with operator():
        await kube.create(resource("kept"))
        kept = await kube.wait_for("kept", is_ready)
        gone = await plant(kube.namespace, "gone", uid=str(uuid.uuid4()), cluster=cluster)
        # Same namespace/name as a live resource, but the uid of an earlier one: that one is gone.
        replaced = await plant(kube.namespace, "kept", uid=str(uuid.uuid4()), cluster=cluster)
        others = [
            await plant(kube.namespace, "gone", uid=str(uuid.uuid4()), cluster=f"{cluster}-other"),
            await plant(kube.namespace, "gone"),  # lgcron apply: no uid, no cluster
        ]

        code, out, err = await lgcron("audit", "--server", agent_server.url)
        assert code == 1, out + err
        header, *rows, summary = out.splitlines()
        assert header.split()[:3] == ["CRON", "ID", "NAMESPACE"]
        assert sorted(row.split()[0] for row in rows) == sorted([gone.cron_id, replaced.cron_id])
        assert summary.startswith(f"2 orphaned crons of cluster {cluster} on {agent_server.url}")
        assert all([await exists(server, c) for c in (gone, replaced, *others)])

        code, out, err = await lgcron("audit", "--server", agent_server.url, "-n", kube.namespace, "--delete")
        assert code == 0, out + err
        assert out.splitlines()[-1].startswith("deleted 2 of 2 orphaned crons")
        assert not await exists(server, gone) and not await exists(server, replaced)
        assert all([await exists(server, c) for c in others])
        assert [c.cron_id for c in await crons_of(server, kept)] == [kept["status"]["cronId"]]

        code, out, err = await lgcron("audit", "--server", agent_server.url, "--cluster", cluster)
        assert (code, err) == (0, "")
        assert out.startswith(f"no orphaned crons of cluster {cluster}")

        await kube.delete("kept")
        await kube.wait_gone("kept")


async def test_audit_errors_are_one_line(kubeconfig_path, cluster):
    code, out, err = await lgcron("audit", "--server", "http://127.0.0.1:9")
    assert code == 4 and out == ""  # the exit-code table's "unreachable" (it was 2, a usage error, before)
    assert err.startswith("lgcron audit: error: POST http://127.0.0.1:9/runs/crons/search:") and err.count("\n") == 1


async def test_gc_deletes_orphans_with_an_event_and_leaves_everything_else(
    kube, operator, server, plant, cluster, monkeypatch
):
    monkeypatch.setenv("LGCRON_GC_INTERVAL", "2")
    monkeypatch.setenv("LGCRON_GC_MIN_AGE", "0")
    async with operator():
        await kube.create(resource("live"))
        live = await kube.wait_for("live", is_ready)
        gone_uid = str(uuid.uuid4())
        gone = await plant(kube.namespace, "gone", uid=gone_uid, cluster=cluster)
        kept = [
            await plant(kube.namespace, "gone", uid=str(uuid.uuid4()), cluster=f"{cluster}-other"),
            await plant(kube.namespace, "gone"),  # lgcron apply
            # A namespace this operator does not watch may be another operator's.
            await plant(f"{kube.namespace}-elsewhere", "gone", uid=str(uuid.uuid4()), cluster=cluster),
        ]

        async def gone_deleted() -> bool:
            return not await exists(server, gone)

        async def orphan_event() -> list:
            return [e for e in await kube.events("gone") if e["reason"] == "OrphanDeleted"]

        await wait_until(gone_deleted, timeout=30, what="the GC to delete the orphan")
        [event] = await wait_until(orphan_event, timeout=15, what="the OrphanDeleted Event")
        assert event["involvedObject"]["uid"] == gone_uid
        assert event["involvedObject"]["kind"] == "LangGraphCron"
        assert gone.cron_id in event["message"]

        await asyncio.sleep(5)  # a few more passes: nothing else goes
        assert all([await exists(server, c) for c in kept])
        assert [c.cron_id for c in await crons_of(server, live)] == [live["status"]["cronId"]]
        assert (await kube.get("live"))["status"]["cronId"] == live["status"]["cronId"]

        await kube.delete("live")
        await kube.wait_gone("live")


async def test_audit_uses_a_server_objects_url_and_key(kube, auth_server, cluster):
    """`--server-ref lgs/NS/NAME`: the auth server accepts only VALID_KEY, which only the object's Secret holds."""
    from kube_test_api import LGCRON_API_VERSION, api_path
    from langgraph_cron.clients.agent_server import make_http_client

    from tests.graphs.auth import VALID_KEY

    await kube.create_secret("audit-key", {"apiKey": VALID_KEY})
    await kube.call("POST", api_path(LGCRON_API_VERSION, "langgraphservers", kube.namespace), {
        "apiVersion": LGCRON_API_VERSION, "kind": "LangGraphServer", "metadata": {"name": "audited"},
        "spec": {"url": auth_server.url, "apiKeySecretRef": {"name": "audit-key", "key": "apiKey"}}})
    async with make_http_client(timeout=10) as http:
        authed = AgentServerClient(http, auth_server.url, VALID_KEY)
        tags = {"lgcron.io/namespace": kube.namespace, "lgcron.io/name": "gone", "lgcron.io/uid": str(uuid.uuid4()),
                "lgcron.io/cluster": cluster, "lgcron.io/assistant": "agent"}
        orphan = await authed.create({"assistant_id": "agent", "schedule": FAR_AWAY, "input": {}, "metadata": tags})
        try:
            code, out, err = await lgcron("audit", "--server-ref", f"lgs/{kube.namespace}/audited", "--delete")
            assert code == 0, out + err
            assert out.splitlines()[-1].startswith(f"deleted 1 of 1 orphaned crons of cluster {cluster} on {auth_server.url}")
            assert not await exists(authed, orphan)
        finally:
            with contextlib.suppress(AgentServerError):
                await authed.delete(orphan.cron_id)
    code, out, err = await lgcron("audit", "--server-ref", "audited")
    assert code == 2 and err.startswith("lgcron audit: error: --server-ref 'audited': expected") and err.count("\n") == 1
