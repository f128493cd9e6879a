"""The operator end to end: KopfRunner + kmock (or a real cluster) + the real Agent Server.

Each test runs `kopf run -m langgraph_cron` (the shipped handlers, no test hooks) against a
fresh namespace, with the Agent Server reached through a TcpProxy so outages can be simulated
without losing the server's crons.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kube_test_api import REAL_CLUSTER
from langgraph_cron.clients.agent_server import CronNotFound
from operator_helpers import (
    FAR_AWAY,
    UID_KEY,
    condition,
    crons_of,
    event_reasons,
    has_reason,
    is_ready,
    resource,
    server_requests,
    wait_until,
)

from tests.graphs.auth import VALID_KEY

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]

# ------------------------------------------------------------------ create, update, delete


async def test_apply_creates_a_cron_with_the_spec_fields_and_writes_status(kube, operator, server):
    async with operator():
        await kube.create(
            resource(
                "nightly",
                schedule="0 3 * * *",
                timezone="Europe/Berlin",
                metadata={"team": "search"},
                config={"tags": ["nightly"], "configurable": {"modelName": "small"}},
                context={"tenantId": "t-1"},
                onRunCompleted="keep",
            )
        )
        obj = await kube.wait_for("nightly", is_ready)

    [cron] = await crons_of(server, obj)
    status = obj["status"]
    assert status["cronId"] == cron.cron_id
    assert cron.schedule == "0 3 * * *"
    assert cron.timezone == "Europe/Berlin"
    assert cron.payload["input"] == {"text": "nightly"}
    assert cron.payload["config"]["tags"] == ["nightly"]
    assert cron.payload["config"]["configurable"]["modelName"] == "small"
    assert cron.payload["context"] == {"tenantId": "t-1"}
    assert cron.on_run_completed == "keep"
    assert cron.metadata["team"] == "search"
    assert cron.metadata["lgcron.io/namespace"] == kube.namespace
    assert cron.metadata["lgcron.io/name"] == "nightly"
    assert status["nextRunDate"] == cron.next_run_date.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["upcomingRuns"][0] == status["nextRunDate"]
    assert len(status["upcomingRuns"]) == 3
    assert status["assistantId"] == cron.assistant_id
    assert condition(obj)["reason"] == "Scheduled"
    assert condition(obj, "Stalled")["status"] == "False"
    assert condition(obj, "Reconciling")["status"] == "False"
    assert "Created" in await event_reasons(kube, "nightly")


async def test_schedule_edit_patches_the_same_cron(kube, operator, server):
    async with operator():
        await kube.create(resource("edit"))
        cron_id = (await kube.wait_for("edit", is_ready))["status"]["cronId"]
        await kube.patch("edit", {"spec": {"schedule": "*/30 * * * *"}})
        obj = await kube.wait_for("edit", lambda o: is_ready(o) and o["metadata"]["generation"] == 2)

    assert obj["status"]["cronId"] == cron_id
    [cron] = await crons_of(server, obj)
    assert (cron.cron_id, cron.schedule) == (cron_id, "*/30 * * * *")
    assert "Updated" in await event_reasons(kube, "edit")


async def test_assistant_change_replaces_the_cron_and_deletes_the_old_one(kube, operator, server):
    async with operator():
        await kube.create(resource("swap"))
        old_id = (await kube.wait_for("swap", is_ready))["status"]["cronId"]
        await kube.patch("swap", {"spec": {"assistantId": "failing"}})
        obj = await kube.wait_for("swap", lambda o: is_ready(o) and o["status"]["cronId"] != old_id)

    [cron] = await crons_of(server, obj)
    assert cron.cron_id == obj["status"]["cronId"]
    assert cron.metadata["lgcron.io/assistant"] == "failing"
    with pytest.raises(CronNotFound):
        await server.get(old_id)
    assert "Replaced" in await event_reasons(kube, "swap")


async def test_delete_removes_the_cron(kube, operator, server):
    async with operator():
        await kube.create(resource("doomed"))
        obj = await kube.wait_for("doomed", is_ready)
        assert obj["metadata"]["finalizers"] == ["lgcron.io/cleanup"]
        await kube.delete("doomed")
        await kube.wait_gone("doomed")

    assert await crons_of(server, obj) == []


async def test_orphan_policy_keeps_the_cron(kube, operator, server):
    async with operator():
        await kube.create(resource("orphan", deletionPolicy="Orphan"))
        obj = await kube.wait_for("orphan", is_ready)
        await kube.delete("orphan")
        await kube.wait_gone("orphan")

    [cron] = await crons_of(server, obj)
    assert cron.cron_id == obj["status"]["cronId"]
    assert cron.metadata["lgcron.io/released"] == "true", "released crons are never orphans to audit or GC"
    await server.delete(cron.cron_id)


async def test_enabled_false_suspends_the_cron(kube, operator, server):
    async with operator():
        await kube.create(resource("pause", enabled=False))
        obj = await kube.wait_for("pause", lambda o: is_ready(o) and has_reason("Suspended")(o))

    [cron] = await crons_of(server, obj)
    assert cron.enabled is False
    assert "nextRunDate" not in obj["status"]


async def test_end_time_in_the_past_disables_the_cron_as_expired(kube, operator, server):
    async with operator():
        await kube.create(resource("ended", endTime="2020-01-01T00:00:00Z"))
        obj = await kube.wait_for("ended", has_reason("Expired"))

    [cron] = await crons_of(server, obj)
    assert cron.enabled is False
    assert cron.end_time is None, "end_time must not be forwarded to the server by default"
    assert "nextRunDate" not in obj["status"]


async def test_end_time_passing_while_running_expires_the_cron(kube, operator, server):
    end = datetime.now(UTC) + timedelta(seconds=4)
    async with operator():
        await kube.create(resource("soon", endTime=end.strftime("%Y-%m-%dT%H:%M:%SZ")))
        scheduled = await kube.wait_for("soon", is_ready)
        assert condition(scheduled)["reason"] == "Scheduled"
        expired = await kube.wait_for("soon", has_reason("Expired"), timeout=20)

    [cron] = await crons_of(server, expired)
    assert cron.enabled is False
    assert "nextRunDate" not in expired["status"] and "upcomingRuns" not in expired["status"]
    assert "Expired" in await event_reasons(kube, "soon")


async def test_thread_cron_runs_on_the_given_thread(kube, operator, server, agent_server):
    async with httpx.AsyncClient(base_url=agent_server.url, timeout=10) as raw:
        thread_id = (await raw.post("/threads", json={})).json()["thread_id"]
    async with operator():
        await kube.create(resource("on-thread", threadId=thread_id, multitaskStrategy="enqueue"))
        obj = await kube.wait_for("on-thread", is_ready)

    [cron] = await crons_of(server, obj)
    assert cron.thread_id == thread_id == obj["status"]["threadId"]
    assert cron.payload["multitask_strategy"] == "enqueue"


@pytest.mark.parametrize(
    ("spec", "reason", "stalled"),
    [
        ({"assistantId": "no-such-graph"}, "AssistantNotFound", False),
        ({"threadId": "5f0c1d4e-0000-4000-8000-000000000000"}, "ThreadNotFound", False),
        ({"webhook": "http://127.0.0.1:9/hook"}, "Rejected", True),
    ],
)
async def test_server_side_errors_map_to_condition_reasons(kube, operator, spec, reason, stalled):
    async with operator():
        await kube.create(resource("refused", **spec))
        obj = await kube.wait_for("refused", has_reason(reason))
        await kube.delete("refused")
        await kube.wait_gone("refused")

    assert condition(obj)["status"] == "False"
    assert condition(obj, "Stalled")["status"] == ("True" if stalled else "False")
    assert condition(obj, "Reconciling")["status"] == ("False" if stalled else "True")
    assert "cronId" not in obj["status"]
    assert reason in await event_reasons(kube, "refused")


# ------------------------------------------------------------------ drift and crash safety


async def test_cron_deleted_on_the_server_is_recreated_by_resync(kube, operator, server):
    async with operator():
        await kube.create(resource("drift"))
        old_id = (await kube.wait_for("drift", is_ready))["status"]["cronId"]
        await server.delete(old_id)
        obj = await kube.wait_for("drift", lambda o: o["status"]["cronId"] != old_id, timeout=20)

    assert [c.cron_id for c in await crons_of(server, obj)] == [obj["status"]["cronId"]]
    assert "Recreated" in await event_reasons(kube, "drift")


async def test_field_changed_on_the_server_is_patched_back_by_resync(kube, operator, server):
    async with operator():
        await kube.create(resource("tamper"))
        cron_id = (await kube.wait_for("tamper", is_ready))["status"]["cronId"]
        await server.patch(cron_id, {"schedule": "* * * * *", "enabled": False})

        async def restored():
            cron = await server.get(cron_id)
            return cron.schedule == FAR_AWAY and cron.enabled

        await wait_until(restored, timeout=20, what="the schedule to be patched back")


async def test_crash_between_create_and_status_write_adopts_the_cron(kube, operator, server):
    # The operator died after its create call succeeded and before status.cronId was written:
    # the cron exists, tagged with the resource's uid, and the status knows nothing of it. The
    # finalizer is on: kopf puts it on before any create (an object first seen without it skips
    # the search, as no operator can have made its cron; see CronService.mark_pristine).
    crashed = resource("crashed")
    crashed["metadata"]["finalizers"] = ["lgcron.io/cleanup"]
    obj = await kube.create(crashed)
    uid = obj["metadata"]["uid"]
    orphan = await server.create(
        {
            "assistant_id": "agent",
            "schedule": FAR_AWAY,
            "input": {"text": "crashed"},
            "on_run_completed": "delete",
            "enabled": True,
            "metadata": {UID_KEY: uid, "lgcron.io/namespace": kube.namespace, "lgcron.io/name": "crashed",
                         "lgcron.io/assistant": "agent"},
        }
    )
    async with operator():
        obj = await kube.wait_for("crashed", is_ready)

    assert obj["status"]["cronId"] == orphan.cron_id
    assert [c.cron_id for c in await crons_of(server, obj)] == [orphan.cron_id]
    assert "Adopted" in await event_reasons(kube, "crashed")


async def test_a_new_resource_costs_one_server_request_and_no_search(kube, operator, monkeypatch):
    # No operator can have made a cron for an object first seen without kopf's finalizer: its
    # create skips the uid search (the test above covers objects that have the finalizer).
    monkeypatch.setenv("LGCRON_RESYNC_INTERVAL", "600")  # no resync search inside the window
    before = server_requests()
    async with operator():
        await kube.create(resource("fresh"))
        await kube.wait_for("fresh", is_ready)
        made = server_requests() - before
    assert made == Counter({("POST", "/runs/crons"): 1})


async def test_restarting_the_operator_never_duplicates_crons(kube, operator, server):
    async with operator():
        for i in range(5):
            await kube.create(resource(f"restart-{i}"))
        await asyncio.sleep(0.3)  # stop while some creates are likely in flight
    async with operator():
        objs = [await kube.wait_for(f"restart-{i}", is_ready) for i in range(5)]
    for obj in objs:
        assert [c.cron_id for c in await crons_of(server, obj)] == [obj["status"]["cronId"]]


# ------------------------------------------------------------------ bad input

# A real apiserver refuses these at create (a CEL rule of the CRD): the operator never sees them there.
_CEL_REFUSES = pytest.mark.skipif(REAL_CLUSTER, reason="a CEL rule of the CRD refuses it at create on a real "
                                  "cluster (tests/operator/test_admission.py asserts that); on kmock the operator must")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"schedule": "61 * * * *"}, "spec.schedule"),
        ({"schedule": "0 0 31 2 *"}, "spec.schedule"),
        ({"timezone": "Mars/Olympus"}, "spec.timezone"),
        ({"metadata": {"lgcron.io/uid": "forged"}}, "spec.metadata"),
        ({"interruptBefore": "everything"}, "spec.interruptBefore"),
        pytest.param({"threadId": "5f0c1d4e-0000-4000-8000-000000000000", "onRunCompleted": "keep"},
                     "onRunCompleted", marks=_CEL_REFUSES),
        pytest.param({"backend": "cronJob", "schedule": "*/5 * * * * *"}, "spec.schedule", marks=_CEL_REFUSES),
        ({"schedule": "H(0-99) 9 * * *"}, "spec.schedule"),
    ],
)
async def test_bad_spec_gets_invalid_spec_and_makes_no_server_call(kube, operator, watched_server, spec, field):
    async with operator():
        await kube.create(resource("bad", server={"url": watched_server.url}, **spec))
        await kube.create(resource("good"))
        bad = await kube.wait_for("bad", has_reason("InvalidSpec"))
        await kube.wait_for("good", is_ready)
        await asyncio.sleep(2.5)  # one resync pass (2 s) must not call the server either
        await kube.delete("bad")
        await kube.wait_gone("bad")

    assert watched_server.connections == 0
    assert condition(bad)["status"] == "False"
    assert field in condition(bad)["message"]
    assert condition(bad, "Stalled")["status"] == "True"
    assert bad["status"]["observedGeneration"] == bad["metadata"]["generation"]
    assert "cronId" not in bad["status"]
    warnings = [e for e in await kube.events("bad") if e["reason"] == "InvalidSpec"]
    assert warnings and warnings[0]["type"] == "Warning" and field in warnings[0]["message"]


async def test_fixing_an_invalid_spec_reconciles_it(kube, operator, watched_server):
    async with operator():
        await kube.create(resource("silent", schedule="61 * * * *", server={"url": watched_server.url}))
        await kube.wait_for("silent", has_reason("InvalidSpec"))
        assert watched_server.connections == 0
        await kube.patch("silent", {"spec": {"schedule": FAR_AWAY}})
        obj = await kube.wait_for("silent", is_ready)
        await kube.delete("silent")
        await kube.wait_gone("silent")
    assert obj["status"]["serverUrl"] == watched_server.url
    assert watched_server.connections > 0


# ------------------------------------------------------------------ outages


async def test_server_outage_reports_server_unavailable_and_recovers(kube, operator, proxy, server):
    await proxy.cut()
    async with operator():
        await kube.create(resource("outage"))
        obj = await kube.wait_for("outage", has_reason("ServerUnavailable"))
        assert condition(obj, "Reconciling")["status"] == "True"
        await proxy.start()
        obj = await kube.wait_for("outage", is_ready, timeout=30)
    assert len(await crons_of(server, obj)) == 1


async def test_delete_during_an_outage_keeps_the_finalizer_until_the_server_is_back(kube, operator, proxy, server):
    async with operator():
        await kube.create(resource("hold"))
        obj = await kube.wait_for("hold", is_ready)
        await proxy.cut()
        await kube.delete("hold")
        held = await kube.wait_for("hold", has_reason("ServerUnavailable"))
        assert held["metadata"]["deletionTimestamp"]
        assert held["metadata"]["finalizers"] == ["lgcron.io/cleanup"]
        assert "cannot delete the cron yet" in condition(held)["message"]
        assert len(await crons_of(server, obj)) == 1, "the cron must survive until it can really be deleted"
        await proxy.start()
        await kube.wait_gone("hold", timeout=60)

    assert await crons_of(server, obj) == []


# ------------------------------------------------------------------ secrets


async def test_api_key_comes_from_the_secret_and_a_missing_secret_recovers(
    kube, run_operator, monkeypatch, auth_server, caplog
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LGCRON_SERVER_URL", auth_server.url)
    monkeypatch.setenv("LGCRON_RESYNC_INTERVAL", "2")
    monkeypatch.delenv("LGCRON_API_KEY", raising=False)
    spec = {"server": {"apiKeySecretRef": {"name": "lg-key", "key": "apiKey"}}}
    async with run_operator("-m", "langgraph_cron.controller", "--verbose") as runner:
        await kube.create(resource("keyed", **spec))
        missing = await kube.wait_for("keyed", has_reason("SecretNotFound"))
        assert "lg-key" in condition(missing)["message"]
        await kube.create_secret("lg-key", {"apiKey": "sk-wrong-key"})
        await kube.wait_for("keyed", has_reason("Unauthorized"))
        await kube.patch_secret("lg-key", {"apiKey": VALID_KEY})
        obj = await kube.wait_for("keyed", is_ready)
        await kube.delete("keyed")
        await kube.wait_gone("keyed")
        events = await kube.events("keyed")

    assert obj["status"]["cronId"]
    assert {"SecretNotFound", "Unauthorized", "Created", "Deleted"} <= {e["reason"] for e in events}
    written = [str(obj), str(events), runner.output, caplog.text]
    assert not [text for text in written if VALID_KEY in text or "sk-wrong-key" in text], (
        "an API key leaked into status, Events or logs"
    )


# ------------------------------------------------------------------ a real run


async def test_scheduled_cron_really_fires_a_run(kube, operator, agent_server):
    async with operator():
        # Every second (croniter's 6th field, which the spec accepts): a 5-field schedule would wait
        # for the next minute boundary, up to a minute of CI time for each Kubernetes API.
        await kube.create(resource("fires", schedule="* * * * * *", onRunCompleted="keep", input={"text": "tick"}))
        obj = await kube.wait_for("fires", is_ready)
        uid = obj["metadata"]["uid"]

        async with httpx.AsyncClient(base_url=agent_server.url, timeout=10) as raw:

            async def finished_run():
                threads = (await raw.post("/threads/search", json={"metadata": {UID_KEY: uid}})).json()
                for thread in threads:
                    runs = (await raw.get(f"/threads/{thread['thread_id']}/runs")).json()
                    if any(r["status"] == "success" for r in runs):
                        return (await raw.get(f"/threads/{thread['thread_id']}")).json()
                return None

            thread = await wait_until(finished_run, timeout=90, what="a scheduled run to finish")
        await kube.delete("fires")
        await kube.wait_gone("fires")

    assert thread["values"] == {"text": "tick", "reply": "echo: tick"}


# ------------------------------------------------------------------ batched resync


async def test_steady_state_resync_is_one_search_per_server_and_writes_no_status(kube, operator):
    count = 20
    async with operator():
        for i in range(count):
            await kube.create(resource(f"steady-{i}"))
        ready = [await kube.wait_for(f"steady-{i}", is_ready) for i in range(count)]
        await asyncio.sleep(2.5)  # let the first pass after creation settle
        before = server_requests()
        versions = {o["metadata"]["name"]: (await kube.get(o["metadata"]["name"]))["metadata"]["resourceVersion"] for o in ready}
        await asyncio.sleep(6.5)  # three passes at LGCRON_RESYNC_INTERVAL=2
        after = server_requests()
        versions_after = {name: (await kube.get(name))["metadata"]["resourceVersion"] for name in versions}

    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    delta = {key: value for key, value in delta.items() if value}
    assert set(delta) <= {("POST", "/runs/crons/search")}, f"steady state made other requests: {delta}"
    # ceil(20 / 1000) + 1 requests per pass at most, over at most 4 passes.
    assert delta.get(("POST", "/runs/crons/search"), 0) <= 4 * 2
    assert delta.get(("POST", "/runs/crons/search"), 0) >= 2, "the resync passes did run"
    assert versions_after == versions, "a steady-state pass must not write status"
