"""Run history end to end: the shipped operator, kmock or a real cluster, the real Agent Server.

A stateless cron fires every second (a six-field schedule); the echo graph fails for a text
starting with "fail:", so a change of input alone turns its runs from succeeding to failing.
"""

from __future__ import annotations

import pytest
from operator_helpers import condition, is_ready, lgcron, resource
from prometheus_client import REGISTRY

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180)]

EVERY_SECOND = "* * * * * *"


def runs(obj) -> dict:
    return obj["status"].get("runs") or {}


async def test_runs_show_up_in_status_events_and_metrics_and_failures_alert(kube, operator):
    async with operator():
        await kube.create(resource("busy", schedule=EVERY_SECOND, input={"text": "ok"},
                                   runHistory={"successfulRunsLimit": 2, "failedRunsLimit": 1}))
        await kube.wait_for("busy", is_ready)
        obj = await kube.wait_for("busy", lambda o: runs(o).get("succeeded", 0) >= 2, timeout=60)
        status = obj["status"]
        assert status["lastRun"]["threadId"] and status["lastSuccessfulTime"] and status["lastScheduleTime"]
        assert condition(obj, "LastRunSucceeded")["status"] == "True"
        assert condition(obj)["status"] == "True"  # Ready is about the cron, not its runs

        await kube.patch("busy", {"spec": {"input": {"text": "fail: on purpose"}}})
        obj = await kube.wait_for("busy", lambda o: runs(o).get("consecutiveFailures", 0) >= 2, timeout=60)
        failed = condition(obj, "LastRunSucceeded")
        assert (failed["status"], failed["reason"]) == ("False", "Failed") and "EchoFailed" in failed["message"]
        assert obj["status"]["lastRun"]["result"] in ("Failed", "Running")
        assert condition(obj)["status"] == "True"  # still Ready: Argo CD and Flux do not flap
        labels = {"namespace": kube.namespace, "name": "busy"}
        assert REGISTRY.get_sample_value("lgcron_runs_total", {**labels, "result": "failed"}) >= 2
        assert REGISTRY.get_sample_value("lgcron_consecutive_failures", labels) >= 1

        await kube.patch("busy", {"spec": {"input": {"text": "ok again"}}})
        obj = await kube.wait_for("busy", lambda o: runs(o).get("consecutiveFailures", 1) == 0 and runs(o)[
            "succeeded"] > 2, timeout=60)
        events = await kube.events("busy")
        code, out, err = await lgcron("history", f"{kube.namespace}/busy", "--limit", "3")
        assert code == 0, out + err
        header, *rows = out.splitlines()
        assert header.split() == ["RUN", "THREAD", "RESULT", "STARTED", "DURATION", "ERROR"]
        assert 1 <= len(rows) <= 3 and all(row.split()[2] in ("Succeeded", "Failed", "Running") for row in rows)
        await kube.delete("busy")
        await kube.wait_gone("busy", timeout=60)
    run_failed = [e for e in events if e["reason"] == "RunFailed"]
    assert run_failed and all(e["type"] == "Warning" and "EchoFailed: fail: on purpose" in e["message"]
                              for e in run_failed)
    recovered = [e for e in events if e["reason"] == "RunSucceeded"]
    assert len(recovered) == 1 and recovered[0]["type"] == "Normal"
    assert not [e for e in events if e["reason"] == "RunSucceeded" and "after" not in e["message"]]


async def test_an_explicit_delete_of_run_threads_says_history_is_unavailable(kube, operator):
    async with operator():
        await kube.create(resource("no-history", onRunCompleted="delete"))
        obj = await kube.wait_for("no-history", is_ready)
    unavailable = condition(obj, "LastRunSucceeded")
    assert (unavailable["status"], unavailable["reason"]) == ("Unknown", "HistoryUnavailable")
    assert "onRunCompleted: delete" in unavailable["message"]
