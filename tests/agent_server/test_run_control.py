"""Control over runs against the real Agent Server: triggers, pause on failure, run budgets, deadlines.

Uses the `Cron` helper of test_run_history.py: the service reconciles, `RunObserver` looks at the
runs as the resync pass does, and each status is fed back as the next body.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.runcontrol import trigger_thread_id
from langgraph_cron.engine.observer import RunObserver
from prometheus_client import REGISTRY

from tests.agent_server.conftest import Recorder
from tests.agent_server.test_run_history import (
    EVERY_SECOND,
    Cron,
    looked_until,
    make_service,
)

pytestmark = [pytest.mark.agent_server, pytest.mark.timeout(120)]

FAR_AWAY = "0 9 1 1 *"


class Annotated(Cron):
    """A Cron whose object carries annotations (lgcron.io/trigger, lgcron.io/resume)."""

    annotations: dict[str, str]

    def obj(self):
        obj = super().obj()
        return obj.__class__(**{**obj.__dict__, "annotations": dict(getattr(self, "annotations", {}))})

    def body(self):
        body = super().body()
        body["metadata"]["annotations"] = dict(getattr(self, "annotations", {}))
        return body

    async def annotate(self, **values: str) -> object:
        self.annotations = {**getattr(self, "annotations", {}), **{f"lgcron.io/{k}": v for k, v in values.items()}}
        result = await self.service.reconcile(self.obj())
        self.status, self.version = result.status, self.version + 1
        return result


def ready(cron: Cron) -> tuple[str, str]:
    condition = cron.status.condition("Ready")
    return condition.status, condition.reason


async def runs_on(raw: httpx.AsyncClient, thread_id: str) -> list[dict]:
    response = await raw.get(f"/threads/{thread_id}/runs")
    return response.json() if response.status_code == 200 else []


@pytest.fixture
async def raw(agent_server):
    async with httpx.AsyncClient(base_url=agent_server.url, timeout=10) as client:
        yield client


async def test_a_trigger_runs_exactly_once_also_when_its_status_write_was_lost(http, agent_server, raw):
    service = make_service(http, agent_server.url)
    cron = Annotated(service, {"schedule": FAR_AWAY})
    await cron.reconcile()
    try:
        before = cron.status
        result = await cron.annotate(trigger="2026-12-02T10:00:00Z")
        assert [e.reason for e in result.events] == ["Triggered"]
        trigger = cron.status.last_trigger
        assert trigger.value == "2026-12-02T10:00:00Z" and trigger.run_id and trigger.refused is None
        assert trigger.thread_id == trigger_thread_id(cron.uid, trigger.value)
        [run] = await runs_on(raw, trigger.thread_id)
        assert run["metadata"]["lgcron.io/trigger"] == trigger.value and run["metadata"]["lgcron.io/uid"] == cron.uid
        assert run["kwargs"]["input"] == {"text": "ok"}  # the cron's own payload
        # The same value again (a resync, a restart): nothing.
        assert (await cron.annotate()).events == [] and len(await runs_on(raw, trigger.thread_id)) == 1
        # The status write was lost (kill -9 right after the run started): a new process finds the run.
        restarted = make_service(http, agent_server.url)
        cron.service, cron.status = restarted, before
        await cron.annotate()
        assert cron.status.last_trigger.run_id == trigger.run_id and len(await runs_on(raw, trigger.thread_id)) == 1
        # It is a run like any other in the history (the observer finds its thread by the cron's uid).
        await asyncio.sleep(1.0)
        seen = await RunObserver(restarted).observe([{**cron.body(), "status": {
            **cron.body()["status"], "activeRuns": [{"threadId": trigger.thread_id}]}}])
        assert seen and any(r.thread_id == trigger.thread_id for r in [seen[0].update.status.last_run])
    finally:
        await cron.delete()
        await raw.delete(f"/threads/{trigger_thread_id(cron.uid, '2026-12-02T10:00:00Z')}")


async def test_a_lost_response_to_the_run_create_does_not_make_a_second_run(agent_server, raw):
    recorder = Recorder()
    async with make_http_client(timeout=10.0, transport=recorder) as http:
        service = make_service(http, agent_server.url)
        cron = Annotated(service, {"schedule": FAR_AWAY})
        await cron.reconcile()
        thread = trigger_thread_id(cron.uid, "once")
        recorder.lose_response_of = f"POST /threads/{thread}/runs"
        try:
            failed = await cron.annotate(trigger="once")
            assert failed.retry_after is not None and cron.status.last_trigger is None  # retried, not recorded
            await cron.annotate()
            assert cron.status.last_trigger.value == "once" and len(await runs_on(raw, thread)) == 1
        finally:
            await cron.delete()
            await raw.delete(f"/threads/{thread}")
    await recorder.aclose()


async def test_a_thread_crons_trigger_runs_on_its_thread_once(http, agent_server, client, raw):
    thread = await client.create_thread(str(uuid.uuid4()))
    service = make_service(http, agent_server.url)
    cron = Annotated(service, {"schedule": FAR_AWAY, "threadId": thread})
    await cron.reconcile()
    try:
        await cron.annotate(trigger="t1")
        before = cron.status.model_copy(update={"last_trigger": None})
        assert cron.status.last_trigger.thread_id == thread
        cron.status = before  # the status write was lost
        await cron.annotate()
        runs = [r for r in await runs_on(raw, thread) if r["metadata"].get("lgcron.io/trigger") == "t1"]
        assert len(runs) == 1
    finally:
        await cron.delete()
        await raw.delete(f"/threads/{thread}")


@pytest.mark.parametrize("spec,why", [
    ({"enabled": False}, "suspended"),
    ({"endTime": "2020-01-01T00:00:00Z"}, "expired"),
    ({"schedule": "0 9 31 2 *"}, "InvalidSpec"),
])
async def test_a_trigger_on_a_suspended_expired_or_invalid_cron_is_refused(http, agent_server, raw, spec, why):
    service = make_service(http, agent_server.url)
    cron = Annotated(service, {"schedule": FAR_AWAY, **spec})
    try:
        result = await cron.annotate(trigger="now")
        refused = [e for e in result.events if e.reason == "TriggerRefused"]
        assert len(refused) == 1 and refused[0].type == "Warning" and why in refused[0].message
        assert cron.status.last_trigger.value == "now" and why in cron.status.last_trigger.refused
        assert await runs_on(raw, trigger_thread_id(cron.uid, "now")) == []
        assert [e.reason for e in (await cron.annotate()).events if e.reason == "TriggerRefused"] == []  # once
    finally:
        if cron.status.cron_id:
            await cron.delete()


async def test_pause_after_two_failures_then_resume(http, agent_server, client):
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Annotated(service, {"schedule": EVERY_SECOND, "input": {"text": "fail: again"},
                               "failurePolicy": {"pauseAfterConsecutiveFailures": 2}})
    await cron.reconcile()
    try:
        seen = await looked_until(cron, observer, lambda s: s.paused is not None)
        assert seen.requeue and [e.reason for e in seen.update.events].count("PausedAfterFailures") == 1
        assert cron.status.paused.consecutive_failures >= 2 and "EchoFailed" in cron.status.paused.last_error
        await cron.annotate()  # the requeued reconcile
        assert ready(cron) == ("False", "PausedAfterFailures")
        assert cron.status.condition("Stalled").status == "True"  # a person must act: Argo CD shows Degraded
        assert (await client.get(cron.status.cron_id)).enabled is False
        assert cron.spec.get("enabled", True) is True  # the spec is not changed
        labels = {"namespace": cron.identity.namespace, "name": cron.identity.name}
        assert REGISTRY.get_sample_value("lgcron_paused", labels) == 1
        # Never resumes by itself: a restart, a resync, more passes.
        restarted = make_service(http, agent_server.url)
        cron.service = restarted
        cron.status = LangGraphCronStatus.model_validate(cron.status.model_dump(by_alias=True, mode="json"))
        await cron.annotate()
        await cron.look(RunObserver(restarted))
        assert cron.status.paused is not None and ready(cron) == ("False", "PausedAfterFailures")
        # A person resumes it: the annotation.
        result = await cron.annotate(resume="fixed the prompt")
        assert "Resumed" in [e.reason for e in result.events]
        assert cron.status.paused is None and cron.status.runs.consecutive_failures == 0
        assert ready(cron) == ("True", "Scheduled") and (await client.get(cron.status.cron_id)).enabled is True
        assert REGISTRY.get_sample_value("lgcron_paused", labels) == 0
    finally:
        await cron.delete()


async def test_a_spec_change_resumes_a_paused_cron(http, agent_server, client):
    service = make_service(http, agent_server.url)
    cron = Annotated(service, {"schedule": EVERY_SECOND, "input": {"text": "fail: again"},
                               "failurePolicy": {"pauseAfterConsecutiveFailures": 1}})
    await cron.reconcile()
    try:
        await looked_until(cron, RunObserver(service), lambda s: s.paused is not None)
        await cron.annotate()
        assert ready(cron)[1] == "PausedAfterFailures"
        await cron.change(input={"text": "ok"})
        assert cron.status.paused is None and ready(cron) == ("True", "Scheduled")
        assert (await client.get(cron.status.cron_id)).enabled is True
    finally:
        await cron.delete()


async def test_a_budget_of_two_runs(http, agent_server, client):
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Annotated(service, {"schedule": EVERY_SECOND, "maxRuns": 2})
    await cron.reconcile()
    try:
        assert cron.status.runs.remaining == 2
        seen = await looked_until(cron, observer, lambda s: s.runs.remaining == 0)
        assert seen.requeue
        await cron.annotate()
        assert ready(cron) == ("True", "RunBudgetExhausted")
        assert (await client.get(cron.status.cron_id)).enabled is False and cron.status.next_run_date is None
        await asyncio.sleep(2)
        await cron.look(observer)  # a run already started when the budget ran out is still counted
        counted = cron.status.runs.succeeded + cron.status.runs.failed
        assert 2 <= counted <= 3
        await cron.change(maxRuns=counted + 1)  # raising it re-enables
        assert ready(cron) == ("True", "Scheduled") and cron.status.runs.remaining == 1
        assert (await client.get(cron.status.cron_id)).enabled is True
    finally:
        await cron.delete()


async def test_a_run_past_its_deadline_is_cancelled_and_timed_out(http, agent_server, raw):
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Annotated(service, {"schedule": FAR_AWAY, "input": {"text": "sleep:30"}, "runTimeoutSeconds": 1,
                               "failurePolicy": {"pauseAfterConsecutiveFailures": 1}})
    await cron.reconcile()
    try:
        await cron.annotate(trigger="slow")
        thread = cron.status.last_trigger.thread_id
        await asyncio.sleep(2.5)
        seen = await cron.look(observer)
        assert seen is not None and [r.result for r in seen.update.counted] == ["TimedOut"]
        assert cron.status.last_run.result == "TimedOut" and cron.status.runs.failed == 1
        assert "runTimeoutSeconds" in cron.status.last_run.error
        assert [e.reason for e in seen.update.events][:1] == ["RunFailed"]
        assert cron.status.paused is not None  # a timeout is a failure for the failure policy
        labels = {"namespace": cron.identity.namespace, "name": cron.identity.name, "result": "timed_out"}
        assert REGISTRY.get_sample_value("lgcron_runs_total", labels) == 1
        await asyncio.sleep(1.0)
        [run] = await runs_on(raw, thread)
        assert run["status"] in ("interrupted", "error")  # cancelled on the server
        again = await cron.look(observer)  # whatever the thread says now, it stays one TimedOut run
        assert again is None or (again.update.counted == [] and cron.status.last_run.result == "TimedOut")
    finally:
        await cron.delete()
