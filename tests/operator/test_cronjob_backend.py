"""The cronJob backend end to end: a LangGraphCron kept as a native batch/v1 CronJob."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes
import pytest
from kube_test_api import api_path
from operator_helpers import (
    FAR_AWAY,
    condition,
    crons_of,
    event_reasons,
    has_reason,
    is_ready,
    resource,
)

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]


def cronjob_resource(name: str, **spec: Any) -> dict[str, Any]:
    return resource(name, backend="cronJob", **spec)


async def get_cronjob(kube, name: str) -> dict[str, Any] | None:
    try:
        return await kube.call("GET", api_path("batch/v1", "cronjobs", kube.namespace, name))
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def wait_cronjob(kube, name: str, predicate, timeout: float = 20.0) -> dict[str, Any] | None:
    deadline = asyncio.get_running_loop().time() + timeout
    cronjob = None
    while asyncio.get_running_loop().time() < deadline:
        cronjob = await get_cronjob(kube, name)
        if predicate(cronjob):
            return cronjob
        await asyncio.sleep(0.2)
    raise AssertionError(f"CronJob {name} never satisfied the predicate; last seen: {cronjob}")


async def test_create_keeps_a_cronjob_and_no_server_cron(kube, operator, server):
    async with operator():
        await kube.create(cronjob_resource("cj-create", schedule="0 7 * * 1-5", timezone="Europe/Berlin"))
        obj = await kube.wait_for("cj-create", is_ready)
        cronjob = await get_cronjob(kube, "cj-create")

    status = obj["status"]
    assert (status["backend"], status["cronJobName"]) == ("cronJob", "cj-create")
    assert "cronId" not in status
    assert status["upcomingRuns"][0] == status["nextRunDate"]
    assert cronjob["spec"]["schedule"] == "0 7 * * 1-5"
    assert cronjob["spec"]["timeZone"] == "Europe/Berlin"
    assert cronjob["spec"]["suspend"] is False
    [owner] = cronjob["metadata"]["ownerReferences"]
    assert (owner["uid"], owner["controller"]) == (obj["metadata"]["uid"], True)
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["invoke"]
    assert await crons_of(server, obj) == []
    assert "Created" in await event_reasons(kube, "cj-create")


async def test_update_patches_the_cronjob_in_place(kube, operator):
    async with operator():
        await kube.create(cronjob_resource("cj-edit"))
        await kube.wait_for("cj-edit", is_ready)
        before = await get_cronjob(kube, "cj-edit")
        await kube.patch("cj-edit", {"spec": {"schedule": "*/15 * * * *", "cronJob": {"concurrencyPolicy": "Replace"}}})
        after = await wait_cronjob(kube, "cj-edit", lambda cj: cj["spec"]["schedule"] == "*/15 * * * *")
        await kube.wait_for("cj-edit", lambda o: is_ready(o) and o["metadata"]["generation"] == 2)

    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["concurrencyPolicy"] == "Replace"


async def test_disabled_and_expired_suspend_the_cronjob(kube, operator):
    async with operator():
        await kube.create(cronjob_resource("cj-off", enabled=False))
        await kube.create(cronjob_resource("cj-ended", endTime="2020-01-01T00:00:00Z"))
        off = await kube.wait_for("cj-off", has_reason("Suspended"))
        ended = await kube.wait_for("cj-ended", has_reason("Expired"))
        cronjobs = [await get_cronjob(kube, "cj-off"), await get_cronjob(kube, "cj-ended")]

    assert [cj["spec"]["suspend"] for cj in cronjobs] == [True, True]
    assert "nextRunDate" not in off["status"] and "nextRunDate" not in ended["status"]


async def test_end_time_passing_suspends_the_cronjob(kube, operator):
    end = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with operator():
        await kube.create(cronjob_resource("cj-soon", endTime=end))
        await kube.wait_for("cj-soon", is_ready)
        await kube.wait_for("cj-soon", has_reason("Expired"), timeout=20)
        cronjob = await get_cronjob(kube, "cj-soon")
    assert cronjob["spec"]["suspend"] is True


async def test_hand_edits_and_deletion_are_repaired(kube, operator):
    async with operator():
        await kube.create(cronjob_resource("cj-drift"))
        await kube.wait_for("cj-drift", is_ready)
        path = api_path("batch/v1", "cronjobs", kube.namespace, "cj-drift")
        await kube.call("PATCH", path, {"spec": {"schedule": "* * * * *", "suspend": True}},
                        content_type="application/merge-patch+json")
        await wait_cronjob(kube, "cj-drift", lambda cj: cj["spec"]["schedule"] == FAR_AWAY and not cj["spec"]["suspend"])
        await kube.call("DELETE", path)
        await wait_cronjob(kube, "cj-drift", lambda cj: cj is not None and not cj["metadata"].get("deletionTimestamp"))
    assert {"Updated", "Recreated"} <= set(await event_reasons(kube, "cj-drift"))


async def test_switching_backends_replaces_the_target_without_overlap(kube, operator, server):
    async with operator():
        await kube.create(resource("switch"))
        obj = await kube.wait_for("switch", is_ready)
        assert len(await crons_of(server, obj)) == 1

        await kube.patch("switch", {"spec": {"backend": "cronJob"}})
        obj = await kube.wait_for("switch", lambda o: is_ready(o) and o["status"].get("backend") == "cronJob")
        assert await crons_of(server, obj) == []
        assert await get_cronjob(kube, "switch") is not None
        assert "cronId" not in obj["status"]

        await kube.patch("switch", {"spec": {"backend": "agentServer"}})
        obj = await kube.wait_for("switch", lambda o: is_ready(o) and o["status"].get("backend") == "agentServer")
        await wait_cronjob(kube, "switch", lambda cj: cj is None or cj["metadata"].get("deletionTimestamp"))
        [cron] = await crons_of(server, obj)
        assert obj["status"]["cronId"] == cron.cron_id
        assert "cronJobName" not in obj["status"]
        await kube.delete("switch")
        await kube.wait_gone("switch")
    assert await crons_of(server, obj) == []


async def test_delete_removes_the_cronjob_and_orphan_keeps_it_unowned(kube, operator):
    async with operator():
        await kube.create(cronjob_resource("cj-gone"))
        await kube.create(cronjob_resource("cj-kept", deletionPolicy="Orphan"))
        await kube.wait_for("cj-gone", is_ready)
        await kube.wait_for("cj-kept", is_ready)
        await kube.delete("cj-gone")
        await kube.delete("cj-kept")
        await kube.wait_gone("cj-gone")
        await kube.wait_gone("cj-kept")

    gone = await get_cronjob(kube, "cj-gone")
    assert gone is None or gone["metadata"].get("deletionTimestamp")
    kept = await get_cronjob(kube, "cj-kept")
    assert kept is not None and not kept["metadata"].get("ownerReferences")


async def test_a_foreign_cronjob_of_the_same_name_is_never_taken_over(kube, operator):
    foreign = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "taken"},
               "spec": {"schedule": "0 0 1 1 *", "suspend": True, "jobTemplate": {"spec": {"template": {"spec": {
                   "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    await kube.call("POST", api_path("batch/v1", "cronjobs", kube.namespace), foreign)
    async with operator():
        await kube.create(cronjob_resource("taken"))
        obj = await kube.wait_for("taken", has_reason("CronJobConflict"))
        await kube.delete("taken")
        await kube.wait_gone("taken")
    assert condition(obj)["status"] == "False"
    assert (await get_cronjob(kube, "taken"))["spec"]["schedule"] == "0 0 1 1 *", "the foreign CronJob is untouched"


@pytest.mark.emulator_only(reason="a real cluster's job controller owns Job status and no kubelet runs the Pods, "
                                  "so a finished Job can only be written by hand on the emulator")
async def test_job_results_are_mirrored_into_status(kube, operator):
    async with operator():
        obj = await kube.create(cronjob_resource("cj-runs"))
        await kube.wait_for("cj-runs", is_ready)
        labels = {"lgcron.io/uid": obj["metadata"]["uid"], "lgcron.io/name": "cj-runs"}
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "cj-runs-29000000", "labels": labels},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}
        jobs = api_path("batch/v1", "jobs", kube.namespace)
        await kube.call("POST", jobs, job)
        await kube.call("PATCH", api_path("batch/v1", "jobs", kube.namespace, "cj-runs-29000000", "status"),
                        {"status": {"completionTime": "2026-11-22T06:00:09Z",
                                    "conditions": [{"type": "Complete", "status": "True"}]}},
                        content_type="application/merge-patch+json")
        obj = await kube.wait_for("cj-runs", lambda o: o["status"]["lastRun"]["result"] == "Succeeded")
        last = obj["status"]["lastRun"]
        assert (last["jobName"], last["completionTime"]) == ("cj-runs-29000000", "2026-11-22T06:00:09Z")
        assert last["startTime"] and obj["status"]["lastSuccessfulTime"] == "2026-11-22T06:00:09Z"
        assert obj["status"]["runs"]["succeeded"] == 1 and obj["status"]["runs"]["failed"] == 0
        # A Job stopped by its deadline: the same fields as the agentServer backend's runs.
        await kube.call("POST", jobs, {**job, "metadata": {**job["metadata"], "name": "cj-runs-29000060"}})
        await kube.call("PATCH", api_path("batch/v1", "jobs", kube.namespace, "cj-runs-29000060", "status"),
                        {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                                    "message": "Job was active longer than specified deadline",
                                                    "lastTransitionTime": "2026-11-22T06:10:00Z"}]}},
                        content_type="application/merge-patch+json")
        obj = await kube.wait_for("cj-runs", lambda o: o["status"]["runs"]["consecutiveFailures"] == 1)
        events = await kube.events("cj-runs")
    status = obj["status"]
    assert status["runs"]["succeeded"] == 1 and status["runs"]["failed"] == 1
    assert status["lastRun"]["jobName"] == "cj-runs-29000060" and status["lastRun"]["result"] == "TimedOut"
    assert status["lastFailureTime"] == "2026-11-22T06:10:00Z"
    last_run = next(c for c in status["conditions"] if c["type"] == "LastRunSucceeded")
    assert (last_run["status"], last_run["reason"]) == ("False", "TimedOut")
    assert [e["message"] for e in events if e["reason"] == "RunFailed"] == [
        "Job cj-runs-29000060 timed out: Job was active longer than specified deadline"]
