"""Control over runs end to end: the shipped operator, kmock or a real cluster, the real Agent Server.

Triggers (annotation and `lgcron trigger --wait`), pause on failure and `lgcron resume`, run
budgets, and a trigger of the cronJob backend (a Job from the CronJob; on a real cluster no
kubelet runs it, so only its creation is checked).
"""

from __future__ import annotations

import asyncio

import pytest
from kube_test_api import api_path
from langgraph_cron.core.runcontrol import trigger_job_name, trigger_thread_id
from operator_helpers import condition, has_reason, is_ready, lgcron, resource

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]

EVERY_SECOND = "* * * * * *"


def trigger_handled(value: str):
    return lambda obj: (obj["status"].get("lastTrigger") or {}).get("value") == value


async def test_a_trigger_starts_one_run_and_lgcron_trigger_waits_for_its_end(kube, operator, server):
    async with operator():
        created = await kube.create(resource("on-demand"))
        await kube.wait_for("on-demand", is_ready)
        await kube.patch("on-demand", {"metadata": {"annotations": {"lgcron.io/trigger": "release-1.2"}}})
        obj = await kube.wait_for("on-demand", trigger_handled("release-1.2"))
        trigger = obj["status"]["lastTrigger"]
        thread = trigger_thread_id(created["metadata"]["uid"], "release-1.2")
        assert trigger["threadId"] == thread and trigger["runId"] and "refused" not in trigger
        # Any later update (here an unrelated label) and the resync passes: still the one run.
        await kube.patch("on-demand", {"metadata": {"labels": {"team": "search"}}})
        await asyncio.sleep(3)
        runs = await server.list_runs(thread)
        assert [r.run_id for r in runs] == [trigger["runId"]]
        assert "Triggered" in [e["reason"] for e in await kube.events("on-demand")]

        code, out, err = await lgcron("trigger", f"{kube.namespace}/on-demand", "--wait", "--timeout", "60", timeout=90)
        assert code == 0, out + err
        assert "started" in out and out.strip().endswith(": success")
        await kube.delete("on-demand")
        await kube.wait_gone("on-demand")


async def test_a_trigger_on_a_suspended_cron_is_refused(kube, operator):
    async with operator():
        await kube.create(resource("resting", enabled=False))
        await kube.wait_for("resting", is_ready)
        await kube.patch("resting", {"metadata": {"annotations": {"lgcron.io/trigger": "now"}}})
        obj = await kube.wait_for("resting", trigger_handled("now"))
        code, _, err = await lgcron("trigger", f"{kube.namespace}/resting", "--wait", "--timeout", "30", timeout=90)
    assert "suspended" in obj["status"]["lastTrigger"]["refused"]
    refused = [e for e in await kube.events("resting") if e["reason"] == "TriggerRefused"]
    assert refused and refused[0]["type"] == "Warning" and "suspended" in refused[0]["message"]
    assert code == 3 and "refused" in err


async def test_pause_after_two_failures_and_lgcron_resume(kube, operator, server):
    async with operator():
        await kube.create(resource("flaky", schedule=EVERY_SECOND, input={"text": "fail: broken prompt"},
                                   failurePolicy={"pauseAfterConsecutiveFailures": 2}))
        obj = await kube.wait_for("flaky", has_reason("PausedAfterFailures"), timeout=60)
        ready = condition(obj)
        assert ready["status"] == "False" and "paused after" in ready["message"] and "EchoFailed" in ready["message"]
        assert condition(obj, "Stalled")["status"] == "True"  # Argo CD: Degraded
        assert obj["status"]["paused"]["consecutiveFailures"] >= 2
        assert (await server.get(obj["status"]["cronId"])).enabled is False
        assert obj["spec"].get("enabled", True) is True
        await asyncio.sleep(3)  # passes and resyncs come and go: it stays paused
        assert condition(await kube.get("flaky"))["reason"] == "PausedAfterFailures"

        await kube.patch("flaky", {"metadata": {"annotations": {"lgcron.io/resume": "seen-it"}}, "spec": {}})
        code, out, err = await lgcron("resume", f"{kube.namespace}/flaky", timeout=90)
        assert code == 0, out + err
        obj = await kube.wait_for("flaky", lambda o: condition(o)["reason"] == "Scheduled")
        assert obj["status"].get("paused") is None and obj["status"]["runs"]["consecutiveFailures"] <= 1
        events = [e["reason"] for e in await kube.events("flaky")]
        assert "PausedAfterFailures" in events and "Resumed" in events
        await kube.delete("flaky")
        await kube.wait_gone("flaky", timeout=60)


async def test_a_run_budget_disables_the_cron_and_raising_it_re_enables(kube, operator, server):
    async with operator():
        await kube.create(resource("trial", schedule=EVERY_SECOND, maxRuns=2))
        obj = await kube.wait_for("trial", has_reason("RunBudgetExhausted"), timeout=60)
        assert condition(obj)["status"] == "True" and obj["status"]["runs"]["remaining"] == 0
        assert (await server.get(obj["status"]["cronId"])).enabled is False
        counted = obj["status"]["runs"]["succeeded"] + obj["status"]["runs"]["failed"]
        await kube.patch("trial", {"spec": {"maxRuns": counted + 50}})
        obj = await kube.wait_for("trial", has_reason("Scheduled"))
        assert (await server.get(obj["status"]["cronId"])).enabled is True
        await kube.delete("trial")
        await kube.wait_gone("trial", timeout=60)


async def test_a_trigger_of_the_cronjob_backend_creates_one_job_owned_by_the_cronjob(kube, operator):
    async with operator():
        await kube.create(resource("batchy", schedule="0 9 1 1 *", backend="cronJob"))
        await kube.wait_for("batchy", is_ready)
        await kube.patch("batchy", {"metadata": {"annotations": {"lgcron.io/trigger": "deploy-42"}}})
        obj = await kube.wait_for("batchy", trigger_handled("deploy-42"))
        name = trigger_job_name("batchy", "deploy-42")
        assert obj["status"]["lastTrigger"]["jobName"] == name
        job = await kube.call("GET", api_path("batch/v1", "jobs", kube.namespace, name))
        cronjob = await kube.call("GET", api_path("batch/v1", "cronjobs", kube.namespace, "batchy"))
        [owner] = job["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("CronJob", cronjob["metadata"]["uid"], True)
        assert job["metadata"]["annotations"]["lgcron.io/trigger"] == "deploy-42"
        assert job["metadata"]["labels"]["lgcron.io/uid"] == obj["metadata"]["uid"]
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["invoke"]  # the CronJob's own template
        jobs = await kube.call("GET", api_path("batch/v1", "jobs", kube.namespace),
                               query={"labelSelector": f"lgcron.io/uid={obj['metadata']['uid']}"})
        assert [j["metadata"]["name"] for j in jobs["items"]] == [name]
