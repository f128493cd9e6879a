"""A restart (or a takeover) costs one batched pass, not a request per resource: resources whose status
says they are in sync are verified together by the first pass (one paged search per server), and only
what it finds missing or changed is reconciled."""

from __future__ import annotations

import asyncio
import logging

import pytest
from operator_helpers import is_ready, resource, server_requests, wait_until

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]

N = 20


async def _all_ready(kube, names: set[str]) -> list[dict]:
    objs = [o for o in await kube.list() if o["metadata"]["name"] in names]
    settled = len(objs) == len(names) and all((o.get("status") or {}).get("conditions") and is_ready(o) for o in objs)
    return objs if settled else []


async def test_a_restart_verifies_in_sync_resources_in_one_search_and_writes_nothing(kube, operator, server, caplog):
    names = {f"restart-{i}" for i in range(N)}
    async with operator():
        for name in sorted(names):
            await kube.create(resource(name))
        before_stop = await wait_until(lambda: _all_ready(kube, names), timeout=60, what="all Ready")
    versions = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in before_stop}
    # One of them loses its cron on the server while the operator is away: the pass must put it back.
    lost = next(o for o in before_stop if o["metadata"]["name"] == "restart-0")
    await server.delete(lost["status"]["cronId"])

    caplog.set_level(logging.INFO, logger="langgraph_cron.engine.passes")
    before = server_requests()
    async with operator():
        await wait_until(lambda: _said(caplog, "first pass after start-up"), timeout=60, what="the first pass")
        during = server_requests() - before
        repaired = await kube.wait_for("restart-0", lambda o: o["status"]["cronId"] != lost["status"]["cronId"])
        await asyncio.sleep(1)  # anything else the restart would write has had time to land
        after = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in await kube.list()}
    assert is_ready(repaired)
    searches = during.get(("POST", "/runs/crons/search"), 0)
    # One paged search of this cluster's crons for all 20, and one more for the repaired one's own reconcile.
    assert searches <= 2, during
    assert during.get(("POST", "/runs/crons"), 0) == 1, during  # only the lost cron is created again
    assert sum(during.values()) <= 6, during  # the server check (ok + an authenticated request), no per-resource
    unchanged = [name for name in names - {"restart-0"} if after[name] == versions[name]]
    assert len(unchanged) == N - 1, f"objects written on restart: {sorted(names - set(unchanged) - {'restart-0'})}"
    assert f"{N} resumed resources verified in bulk" in caplog.text


async def _said(caplog, text: str) -> bool:
    return text in caplog.text
