"""CronService against the real Agent Server: which requests a reconcile makes, and how many at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import UID_KEY, Identity
from langgraph_cron.engine.service import CronService

from tests.agent_server.helpers import NEVER_SOON
from tests.agent_server_fixture import free_port

pytestmark = pytest.mark.agent_server


@pytest.fixture
async def make_service(agent_server, recorder):
    """CronService(**settings) on the operator's own HTTP client, whose requests `recorder` sees."""
    clients: list[httpx.AsyncClient] = []

    def make(**settings) -> CronService:
        clients.append(make_http_client(timeout=10.0, transport=recorder))
        return CronService(Settings(server_url=agent_server.url, cluster_id="test-service", **settings),
                           clients[-1], kube=None)

    yield make
    for http in clients:
        await http.aclose()


def new_object() -> CronObject:
    uid = str(uuid.uuid4())
    return CronObject(
        identity=Identity(uid=uid, namespace="service", name=f"svc-{uid[:8]}", cluster="test-service"),
        generation=1,
        raw_spec={"schedule": NEVER_SOON, "assistantId": "agent"},
        status=LangGraphCronStatus(),
    )


async def crons_of(client, obj: CronObject) -> list:
    return await client.search(metadata={UID_KEY: obj.identity.uid})


async def test_a_pristine_object_is_created_with_one_request_and_no_search(make_service, recorder, client, cleanup):
    service, obj = make_service(), new_object()
    service.mark_pristine(obj.identity.uid)
    result = await service.reconcile(obj)
    cleanup.append(result.status.cron_id)
    assert result.status.condition("Ready").status == "True"
    assert recorder.requests == ["POST /runs/crons"]
    assert [c.cron_id for c in await crons_of(client, obj)] == [result.status.cron_id]


async def test_an_object_seen_with_its_finalizer_searches_before_creating(make_service, recorder, cleanup):
    service, obj = make_service(), new_object()  # never marked pristine
    result = await service.reconcile(obj)
    cleanup.append(result.status.cron_id)
    assert recorder.requests == ["POST /runs/crons/search", "POST /runs/crons"]


async def test_after_a_lost_create_response_the_retry_searches_and_adopts(make_service, recorder, client, cleanup):
    service, obj = make_service(), new_object()
    service.mark_pristine(obj.identity.uid)
    recorder.lose_response_of = "POST /runs/crons"
    failed = await service.reconcile(obj)
    assert failed.status.condition("Ready").reason == "ServerUnavailable" and failed.retry_after is not None
    made = await crons_of(client, obj)
    cleanup.extend(c.cron_id for c in made)
    assert len(made) == 1, "the server made the cron even though its response was lost"

    retried = await service.reconcile(obj, attempt=1)
    assert recorder.requests == ["POST /runs/crons", "POST /runs/crons/search"]
    assert retried.status.cron_id == made[0].cron_id
    assert [e.reason for e in retried.events] == ["Adopted"]
    assert len(await crons_of(client, obj)) == 1


async def test_requests_in_flight_per_server_are_bounded(make_service, recorder, client, cleanup):
    service = make_service(server_concurrency=3)
    objects = [new_object() for _ in range(24)]
    results = await asyncio.gather(*(service.reconcile(obj) for obj in objects))
    cleanup.extend(r.status.cron_id for r in results)
    assert all(r.status.condition("Ready").status == "True" for r in results)
    assert len(recorder.requests) == 48  # search + create each
    assert recorder.peak == 3


async def test_a_held_deletion_retries_within_a_minute_however_long_the_outage(recorder):
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    async with make_http_client(timeout=2.0, transport=recorder) as http:
        service = CronService(Settings(server_url=unreachable, cluster_id="test-service"), http, kube=None)
        obj = new_object()
        obj = CronObject(identity=obj.identity, generation=1, raw_spec=obj.raw_spec,
                         status=LangGraphCronStatus(cron_id=str(uuid.uuid4()), server_url=unreachable))
        results = [await service.finalize(obj, attempt=attempt) for attempt in range(8, 20)]  # old cap: 300 s
    assert all(not r.done and r.status.condition("Ready").reason == "ServerUnavailable" for r in results)
    assert all(0 <= r.retry_after <= 60 for r in results), [r.retry_after for r in results]


def reconciled(obj: CronObject, status: LangGraphCronStatus) -> CronObject:
    """The object as the next watch event shows it: with the status the reconcile wrote."""
    return CronObject(identity=obj.identity, generation=obj.generation, raw_spec=obj.raw_spec, status=status)


async def test_deleting_a_cron_this_process_made_is_one_delete_without_a_search(make_service, recorder, client):
    service, obj = make_service(), new_object()
    service.mark_pristine(obj.identity.uid)
    made = await service.reconcile(obj)
    recorder.requests.clear()
    result = await service.finalize(reconciled(obj, made.status))
    assert result.done
    assert recorder.requests == [f"DELETE /runs/crons/{made.status.cron_id}"]
    assert await crons_of(client, obj) == []


async def test_deleting_after_a_restart_searches_and_deletes_every_cron_of_the_uid(make_service, recorder, client, cleanup):
    first, obj = make_service(), new_object()
    made = await first.reconcile(obj)
    duplicate = await client.create({"assistant_id": "agent", "schedule": NEVER_SOON,  # e.g. from a create lost in a crash
                                     "metadata": {UID_KEY: obj.identity.uid, "lgcron.io/cluster": "test-service"}})
    cleanup.append(duplicate.cron_id)  # in case the test fails before the deletion
    restarted = make_service()  # a new process remembers nothing: it must not trust status.cronId alone
    recorder.requests.clear()
    assert (await restarted.finalize(reconciled(obj, made.status))).done
    assert recorder.requests[0] == "POST /runs/crons/search"
    assert sorted(r for r in recorder.requests if r.startswith("DELETE")) == sorted(
        f"DELETE /runs/crons/{i}" for i in (made.status.cron_id, duplicate.cron_id))
    assert await crons_of(client, obj) == []


async def test_with_several_replicas_deletion_always_searches(make_service, recorder, client):
    service, obj = make_service(), new_object()
    service.remember_sole_crons = False  # kopf peering: another replica may have acted meanwhile
    made = await service.reconcile(obj)
    recorder.requests.clear()
    assert (await service.finalize(reconciled(obj, made.status))).done
    assert recorder.requests == ["POST /runs/crons/search", f"DELETE /runs/crons/{made.status.cron_id}"]


async def test_a_failed_reconcile_forgets_which_cron_was_the_only_one(make_service, recorder, client, cleanup):
    service, obj = make_service(), new_object()
    service.mark_pristine(obj.identity.uid)
    made = await service.reconcile(obj)
    cleanup.append(made.status.cron_id)
    changed = CronObject(identity=obj.identity, generation=2, raw_spec={**obj.raw_spec, "assistantId": "other-graph"},
                         status=made.status)
    recorder.lose_response_of = "POST /runs/crons"  # the replacement is made, but we never learn its id
    failed = await service.reconcile(changed)
    assert failed.status.condition("Ready").reason == "ServerUnavailable"
    cleanup.extend(c.cron_id for c in await crons_of(client, obj))
    recorder.requests.clear()
    assert (await service.finalize(reconciled(changed, failed.status))).done
    assert recorder.requests[0] == "POST /runs/crons/search", "must search: a cron it never saw may exist"
    assert await crons_of(client, obj) == []


# ---------------------------------------------------------------- resync fingerprints


def body_of(obj: CronObject, status: LangGraphCronStatus, resource_version: str = "1") -> dict:
    """The object as the operator's registry holds it, after its status was written."""
    return {"metadata": {"uid": obj.identity.uid, "name": obj.identity.name, "namespace": obj.identity.namespace,
                         "generation": obj.generation, "resourceVersion": resource_version},
            "spec": obj.raw_spec, "status": status.model_dump(by_alias=True, exclude_none=True, mode="json")}


async def ready_objects(service: CronService, count: int, cleanup: list[str]) -> tuple[list[CronObject], list[dict]]:
    """`count` objects reconciled to Ready, and their bodies as the registry then holds them."""
    objects = [new_object() for _ in range(count)]
    bodies = []
    for obj in objects:
        made = await service.reconcile(obj)
        cleanup.append(made.status.cron_id)
        bodies.append(body_of(obj, made.status))
    return objects, bodies


@pytest.fixture
async def fingerprinted(make_service, recorder, cleanup):
    """Three Ready objects, a first resync pass that found them in sync (and fingerprinted them)."""
    service = make_service()
    objects, bodies = await ready_objects(service, 3, cleanup)
    in_sync, dirty = await service.resync(bodies)
    assert [o.identity.uid for o, _ in in_sync] == [o.identity.uid for o in objects] and dirty == []
    recorder.requests.clear()
    return service, objects, bodies


async def test_a_pass_over_unchanged_objects_is_one_search_and_reports_nothing(fingerprinted, recorder):
    service, _, bodies = fingerprinted
    assert await service.resync(bodies) == ([], [])
    assert recorder.requests == ["POST /runs/crons/search"]


async def test_a_cron_changed_deleted_or_duplicated_on_the_server_is_caught_despite_the_fingerprint(
        fingerprinted, client, cleanup):
    service, objects, bodies = fingerprinted
    edited, deleted, duplicated = objects
    await client.patch(bodies[0]["status"]["cronId"], {"schedule": "0 3 * * *"})
    await client.delete(bodies[1]["status"]["cronId"])
    extra = await client.create({"assistant_id": "agent", "schedule": NEVER_SOON,
                                 "metadata": {UID_KEY: duplicated.identity.uid, "lgcron.io/cluster": "test-service"}})
    cleanup.append(extra.cron_id)
    in_sync, dirty = await service.resync(bodies)
    assert in_sync == []
    assert sorted(o.identity.uid for o in dirty) == sorted(o.identity.uid for o in objects)


async def test_a_new_resource_version_gets_the_full_check_again(fingerprinted):
    service, objects, bodies = fingerprinted
    bodies[0]["metadata"]["resourceVersion"] = "2"  # e.g. a label edit: no spec change, no new generation
    in_sync, dirty = await service.resync(bodies)
    assert [o.identity.uid for o, _ in in_sync] == [objects[0].identity.uid] and dirty == []
    assert await service.resync(bodies) == ([], []), "fingerprinted again at the new resourceVersion"


async def test_a_fingerprint_expires_when_the_next_run_time_passes(fingerprinted):
    service, objects, bodies = fingerprinted
    first_run = datetime.fromisoformat(bodies[0]["status"]["upcomingRuns"][0])
    service.clock = lambda: first_run + timedelta(seconds=1)
    in_sync, _ = await service.resync(bodies)
    assert {o.identity.uid for o, _ in in_sync} == {o.identity.uid for o in objects}
    assert all(result.status.upcoming_runs[0] != bodies[0]["status"]["upcomingRuns"][0] for _, result in in_sync)


async def test_a_secret_is_read_once_per_pass_however_many_objects_use_it(make_service, cleanup):
    class CountingKube:
        reads = 0

        async def read_secret_value(self, namespace, name, key):
            CountingKube.reads += 1
            return "any-key"

    service = make_service(api_key_secret={"name": "shared", "key": "apiKey"})
    service.kube = CountingKube()
    _, bodies = await ready_objects(service, 5, cleanup)
    CountingKube.reads = 0
    for _ in range(2):  # the first pass checks in full, the second by fingerprint
        await service.resync(bodies)
    assert CountingKube.reads == 2
