"""Run history of the agentServer backend against the real Agent Server: crons firing every second.

The service makes the cron, `RunObserver` looks at its runs as the operator's resync pass does,
and the status it returns is fed back as the next body (what the watch would deliver). The echo
graph fails for a text starting with "fail:", so one cron goes from succeeding to failing runs by
a change of its input.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import Identity
from langgraph_cron.engine.observer import RunObserver
from langgraph_cron.engine.service import CronService
from prometheus_client import REGISTRY

pytestmark = [pytest.mark.agent_server, pytest.mark.timeout(120)]

EVERY_SECOND = "* * * * * *"


class Cron:
    """One LangGraphCron as the operator sees it: spec, status, and a resourceVersion per write."""

    def __init__(self, service: CronService, spec: dict[str, Any], namespace: str = "history") -> None:
        self.service = service
        self.uid = str(uuid.uuid4())
        self.identity = Identity(uid=self.uid, namespace=namespace, name=f"h-{self.uid[:8]}", cluster="test-history")
        self.spec = {"assistantId": "agent", "input": {"text": "ok"}, "schedule": EVERY_SECOND, **spec}
        self.status = LangGraphCronStatus()
        self.version = 0
        self.generation = 1

    def obj(self) -> CronObject:
        return CronObject(identity=self.identity, generation=self.generation, raw_spec=self.spec, status=self.status,
                          resource_version=str(self.version))

    def body(self) -> dict[str, Any]:
        return {"metadata": {"uid": self.uid, "namespace": self.identity.namespace, "name": self.identity.name,
                             "generation": self.generation, "resourceVersion": str(self.version)},
                "spec": self.spec, "status": self.status.model_dump(by_alias=True, exclude_none=True, mode="json")}

    async def reconcile(self) -> None:
        result = await self.service.reconcile(self.obj())
        assert result.status.condition("Ready").status == "True", result.status.condition("Ready")
        self.status, self.version = result.status, self.version + 1

    async def change(self, **spec: Any) -> None:
        self.spec = {**self.spec, **spec}
        self.generation += 1
        await self.reconcile()

    async def look(self, observer: RunObserver) -> Any:
        [seen] = [o for o in await observer.observe([self.body()]) if o.obj.identity.uid == self.uid] or [None]
        if seen is not None:
            self.status, self.version = seen.update.status, self.version + 1
        return seen

    async def delete(self) -> None:
        assert (await self.service.finalize(self.obj())).done


@pytest.fixture
async def http():
    async with make_http_client(timeout=10.0) as client:
        yield client


def make_service(http: httpx.AsyncClient, url: str) -> CronService:
    return CronService(Settings(server_url=url, cluster_id="test-history"), http, kube=None)


async def looked_until(cron: Cron, observer: RunObserver, check, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await cron.look(observer)
        if seen is not None and check(cron.status):
            return seen
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"history did not get there in {timeout}s: {cron.status.runs} {cron.status.last_run}")
        await asyncio.sleep(1.0)


def metric(name: str, cron: Cron, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"namespace": cron.identity.namespace, "name": cron.identity.name,
                                            **labels}) or 0.0


async def test_success_then_failure_counters_last_run_events_and_metrics(http, agent_server):
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Cron(service, {})
    await cron.reconcile()
    try:
        await looked_until(cron, observer, lambda s: s.runs and s.runs.succeeded >= 2)
        assert cron.status.last_run.result in ("Succeeded", "Running")
        assert cron.status.condition("LastRunSucceeded").status == "True"
        assert cron.status.last_successful_time and cron.status.last_schedule_time
        succeeded = cron.status.runs.succeeded
        assert metric("lgcron_runs_total", cron, result="succeeded") == succeeded

        await cron.change(input={"text": "fail: on purpose"})  # a PATCH of the same cron
        events: list = []

        def failing_twice(status: LangGraphCronStatus) -> bool:
            return status.runs.consecutive_failures >= 2

        deadline = asyncio.get_running_loop().time() + 30
        while not failing_twice(cron.status):
            seen = await cron.look(observer)
            events += seen.update.events if seen else []
            assert asyncio.get_running_loop().time() < deadline, cron.status.runs
            await asyncio.sleep(1.0)
        condition = cron.status.condition("LastRunSucceeded")
        assert (condition.status, condition.reason) == ("False", "Failed")
        assert "EchoFailed" in condition.message and "fail: on purpose" in condition.message
        assert cron.status.last_failure_time
        failures = [e for e in events if e.reason == "RunFailed"]
        assert failures and all(e.type == "Warning" and "EchoFailed" in e.message for e in failures)
        assert metric("lgcron_runs_total", cron, result="failed") == cron.status.runs.failed
        assert metric("lgcron_consecutive_failures", cron) == cron.status.runs.consecutive_failures
        assert metric("lgcron_last_run_timestamp_seconds", cron, result="failed") > 0

        await cron.change(input={"text": "ok again"})
        recovered = []
        while cron.status.runs.consecutive_failures:
            seen = await cron.look(observer)
            recovered += [e for e in (seen.update.events if seen else []) if e.reason == "RunSucceeded"]
            await asyncio.sleep(1.0)
        assert len(recovered) == 1 and recovered[0].type == "Normal"
    finally:
        await cron.delete()


async def test_pruning_keeps_exactly_the_limits(http, agent_server, client):
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Cron(service, {"runHistory": {"successfulRunsLimit": 2, "failedRunsLimit": 1}})
    await cron.reconcile()
    try:
        await looked_until(cron, observer, lambda s: s.runs and s.runs.succeeded >= 4)
        await cron.change(enabled=False)  # no new runs: what is kept can settle
        await asyncio.sleep(1.5)
        await cron.look(observer)
        await cron.look(observer)
        async with httpx.AsyncClient(base_url=agent_server.url, timeout=10) as raw:
            threads = (await raw.post("/threads/search", json={"metadata": {"lgcron.io/uid": cron.uid},
                                                               "limit": 100})).json()
        finished = [t for t in threads if t["status"] != "busy"]
        assert len(finished) == 2 and all(t["status"] == "idle" for t in finished), threads
        assert cron.status.runs.succeeded >= 4  # pruned runs stay counted
    finally:
        await cron.delete()


async def test_an_operator_restart_neither_recounts_nor_skips(http, agent_server):
    service = make_service(http, agent_server.url)
    cron = Cron(service, {"runHistory": {"successfulRunsLimit": 10, "failedRunsLimit": 1}})
    await cron.reconcile()
    try:
        await looked_until(cron, RunObserver(service), lambda s: s.runs and s.runs.succeeded >= 2)
        await cron.change(enabled=False)
        await asyncio.sleep(1.5)
        await cron.look(RunObserver(service))  # everything that ran is now counted
        before = cron.status.runs.succeeded
        # A new process: no memory; the status as written is all it has.
        restarted = make_service(http, agent_server.url)
        cron.service = restarted
        cron.status = LangGraphCronStatus.model_validate(cron.status.model_dump(by_alias=True, mode="json"))
        seen = await cron.look(RunObserver(restarted))
        assert seen is None or seen.update.counted == []
        assert cron.status.runs.succeeded == before
        # Runs while it was down are counted once, after it is back.
        await cron.change(enabled=True)
        await asyncio.sleep(2.0)
        await cron.change(enabled=False)
        await asyncio.sleep(1.5)
        after_first = (await cron.look(RunObserver(restarted))).update.status.runs.succeeded
        assert after_first > before
        seen = await cron.look(RunObserver(make_service(http, agent_server.url)))
        assert seen is None or seen.update.counted == []
        assert cron.status.runs.succeeded == after_first
    finally:
        await cron.delete()


async def test_a_thread_crons_history_comes_from_its_thread_which_is_never_deleted(http, agent_server, client):
    thread = await client.create_thread(str(uuid.uuid4()), metadata={"owner": "test"})
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Cron(service, {"threadId": thread, "multitaskStrategy": "enqueue",
                          "runHistory": {"successfulRunsLimit": 1, "failedRunsLimit": 1}})
    await cron.reconcile()
    try:
        await looked_until(cron, observer, lambda s: s.runs and s.runs.succeeded >= 2)
        assert cron.status.last_run.thread_id == thread and cron.status.last_run.run_id
    finally:
        await cron.delete()
    async with httpx.AsyncClient(base_url=agent_server.url, timeout=10) as raw:
        assert (await raw.get(f"/threads/{thread}")).status_code == 200  # still there
        await raw.delete(f"/threads/{thread}")


async def test_an_explicit_on_run_completed_delete_says_history_is_unavailable(http, agent_server):
    service = make_service(http, agent_server.url)
    cron = Cron(service, {"onRunCompleted": "delete"})
    await cron.reconcile()
    try:
        condition = cron.status.condition("LastRunSucceeded")
        assert (condition.status, condition.reason) == ("Unknown", "HistoryUnavailable")
        assert "onRunCompleted: delete" in condition.message
        await asyncio.sleep(1.5)
        assert await RunObserver(service).observe([cron.body()]) == []  # and no request for it
        assert cron.status.runs is None and cron.status.last_run is None
    finally:
        await cron.delete()


async def test_a_cron_is_looked_at_only_when_a_run_may_have_happened(http, agent_server):
    """No run time since the last look, and nothing running: no request. A suspended cron gets one
    last look (runs may have come before), then none until it is enabled again."""
    service = make_service(http, agent_server.url)
    observer = RunObserver(service)
    cron = Cron(service, {"schedule": "0 9 1 1 *"})  # far away
    await cron.reconcile()
    try:
        assert await observer.observe([cron.body()]) == [] and observer.requests_last_pass == 0
        await cron.change(schedule=EVERY_SECOND)
        await looked_until(cron, observer, lambda s: s.runs and s.runs.succeeded >= 1)
        await cron.change(enabled=False)
        await asyncio.sleep(1.5)
        await looked_until(cron, observer, lambda s: not s.active_runs)  # the last look(s): until runs end
        assert await observer.observe([cron.body()]) == [] and observer.requests_last_pass == 0
        counted = cron.status.runs.succeeded
        await cron.change(enabled=True)
        await looked_until(cron, observer, lambda s: s.runs.succeeded > counted)
    finally:
        await cron.delete()


async def test_a_run_time_without_a_run_is_counted_as_missed(http, agent_server):
    """The status says a run was due 10 minutes ago; the server has no run of it: after the grace
    period that tick counts in lgcron_missed_runs_total, once."""
    from datetime import timedelta

    from langgraph_cron.core.models import format_time

    service = make_service(http, agent_server.url)
    observer = RunObserver(service, grace=60)
    cron = Cron(service, {"schedule": "0 9 1 1 *"})
    await cron.reconcile()
    try:
        before = metric("lgcron_missed_runs_total", cron)
        cron.status = cron.status.model_copy(update={"next_run_date": format_time(service.clock() - timedelta(minutes=10))})
        [seen] = await observer.observe([cron.body()])
        assert seen.missed == 1 and metric("lgcron_missed_runs_total", cron) == before + 1
        assert await observer.observe([cron.body()]) == []  # next look: at the next run time, not again now
    finally:
        await cron.delete()
