"""A credential goes only to the URL it is bound to, and no request goes to a URL outside the allowlist.

The operator's URL and a "tenant's" URL are two spellings of the same real Agent Server
(127.0.0.1 and localhost): every request is recorded with the URL it went to and the key it
carried, so a key arriving where it is not bound shows up whatever the server would do with it.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import Identity, parse_spec
from langgraph_cron.engine.service import CronService

from tests.agent_server.helpers import NEVER_SOON

pytestmark = pytest.mark.agent_server

OPERATOR_KEY = "sk-operator-wide-" + uuid.uuid4().hex[:8]
TENANT_KEY = "sk-tenant-own-" + uuid.uuid4().hex[:8]


class TenantSecrets:
    """The Kubernetes side: the tenant's namespace holds its own key (and the operator-wide Secret name)."""

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        return {"own-key": TENANT_KEY, "operator-default": OPERATOR_KEY}[name]


@pytest.fixture
async def make_service(agent_server, recorder):
    """(service, tenant URL): operator URL 127.0.0.1, the tenant's URL is localhost, same server."""
    clients: list[httpx.AsyncClient] = []
    tenant_url = agent_server.url.replace("127.0.0.1", "localhost")

    def make(*, secret_default: bool = False, **settings) -> tuple[CronService, str]:
        clients.append(make_http_client(timeout=10.0, transport=recorder))
        defaults = {"api_key_secret": {"name": "operator-default", "key": "k"}} if secret_default else {"api_key": OPERATOR_KEY}
        service = CronService(Settings(server_url=agent_server.url, cluster_id="test-binding", **defaults, **settings),
                              clients[-1], kube=TenantSecrets())
        return service, tenant_url

    yield make
    for http in clients:
        await http.aclose()


def tenant_object(server: dict | None, status: LangGraphCronStatus | None = None, uid: str | None = None) -> CronObject:
    uid = uid or str(uuid.uuid4())
    spec = {"schedule": NEVER_SOON, "assistantId": "agent", **({"server": server} if server is not None else {})}
    return CronObject(identity=Identity(uid=uid, namespace="tenant", name=f"t-{uid[:8]}", cluster="test-binding"),
                      generation=1, raw_spec=spec, status=status or LangGraphCronStatus())


async def reconcile_and_delete(service: CronService, obj: CronObject) -> None:
    made = await service.reconcile(obj)
    assert made.status.condition("Ready").status == "True", made.status.condition("Ready")
    finished = await service.finalize(tenant_object(obj.raw_spec.get("server"), made.status, obj.identity.uid))
    assert finished.done


@pytest.mark.parametrize("secret_default", [False, True], ids=["LGCRON_API_KEY", "LGCRON_API_KEY_SECRET"])
async def test_an_inline_url_without_a_secret_gets_no_key_at_all(make_service, recorder, secret_default):
    service, tenant_url = make_service(secret_default=secret_default)
    await reconcile_and_delete(service, tenant_object({"url": tenant_url}))
    assert recorder.keys_sent_to("localhost") == {None}
    assert "127.0.0.1" not in {host for host, _ in recorder.sent}


async def test_an_inline_url_gets_only_the_key_from_the_resources_own_secret(make_service, recorder):
    service, tenant_url = make_service()
    await reconcile_and_delete(service, tenant_object(
        {"url": tenant_url, "apiKeySecretRef": {"name": "own-key", "key": "apiKey"}}))
    assert recorder.keys_sent_to("localhost") == {TENANT_KEY}


@pytest.mark.parametrize("secret_default", [False, True], ids=["LGCRON_API_KEY", "LGCRON_API_KEY_SECRET"])
async def test_a_resource_naming_no_server_gets_the_operator_key_at_the_operator_url(make_service, recorder,
                                                                                   secret_default):
    service, _ = make_service(secret_default=secret_default)
    await reconcile_and_delete(service, tenant_object(None))
    assert recorder.keys_sent_to("127.0.0.1") == {OPERATOR_KEY}
    assert "localhost" not in {host for host, _ in recorder.sent}


async def test_moving_between_urls_deletes_at_each_url_with_only_the_key_bound_there(make_service, recorder):
    service, tenant_url = make_service()
    obj = tenant_object({"url": tenant_url})
    on_tenant = await service.reconcile(obj)
    # The tenant removes its URL: the old cron is deleted on its URL with no key, the new one is
    # made on the operator's URL with the operator's key.
    recorder.sent.clear()
    moved = await service.reconcile(tenant_object(None, on_tenant.status, obj.identity.uid))
    assert moved.status.server_url.startswith("http://127.0.0.1")
    assert recorder.keys_sent_to("localhost") == {None} and recorder.keys_sent_to("127.0.0.1") == {OPERATOR_KEY}
    # And back: the cron on the operator's URL is deleted with the key bound there; nothing of the
    # operator's goes to the tenant's URL.
    recorder.sent.clear()
    back = await service.reconcile(tenant_object({"url": tenant_url}, moved.status, obj.identity.uid))
    assert recorder.keys_sent_to("localhost") == {None} and recorder.keys_sent_to("127.0.0.1") == {OPERATOR_KEY}
    assert (await service.finalize(tenant_object({"url": tenant_url}, back.status, obj.identity.uid))).done


async def test_a_url_outside_the_allowlist_is_server_not_allowed_with_zero_requests(make_service, recorder):
    service, tenant_url = make_service(allowed_server_urls=["*.agents.example.com"])
    result = await service.reconcile(tenant_object({"url": tenant_url, "apiKeySecretRef": {"name": "own-key", "key": "k"}}))
    ready = result.status.condition("Ready")
    assert (ready.status, ready.reason) == ("False", "ServerNotAllowed")
    assert "spec.server.url" in ready.message and result.done and result.retry_after is None
    assert [e.reason for e in result.events] == ["ServerNotAllowed"]
    assert recorder.sent == []


async def test_the_operator_url_and_allowed_urls_still_work_under_an_allowlist(make_service, agent_server, recorder):
    tenant_url = agent_server.url.replace("127.0.0.1", "localhost")
    service, _ = make_service(allowed_server_urls=[tenant_url])  # a URL prefix (the operator's URL: always)
    await reconcile_and_delete(service, tenant_object({"url": tenant_url}))
    await reconcile_and_delete(service, tenant_object(None))
    assert {host for host, _ in recorder.sent} == {"localhost", "127.0.0.1"}


async def test_deleting_a_cron_whose_url_is_no_longer_allowed_sends_nothing_and_says_so(make_service, recorder):
    service, tenant_url = make_service()
    obj = tenant_object({"url": tenant_url})
    made = await service.reconcile(obj)
    tightened, _ = make_service(allowed_server_urls=[])  # LGCRON_ALLOWED_SERVER_URLS=none
    recorder.sent.clear()
    result = await tightened.finalize(tenant_object({"url": tenant_url}, made.status, obj.identity.uid))
    assert result.done and recorder.sent == []
    assert [e.reason for e in result.events] == ["ServerNotAllowed"]
    assert made.status.cron_id in result.events[0].message
    await service.finalize(tenant_object({"url": tenant_url}, made.status, obj.identity.uid))  # clean up


def test_the_cronjob_backends_pods_get_only_the_secret_bound_to_their_url(make_service):
    service, tenant_url = make_service(secret_default=True)
    own = {"name": "own-key", "key": "apiKey"}

    def pod_secret(server):
        spec = parse_spec({"schedule": NEVER_SOON, "assistantId": "agent", **({"server": server} if server else {})})
        return service.pod_secret(service.connection(spec, "tenant"), "tenant")

    assert pod_secret({"url": tenant_url}) is None
    assert pod_secret({"url": tenant_url, "apiKeySecretRef": own}).name == "own-key"
    assert pod_secret(None).name == "operator-default"
    assert pod_secret({"apiKeySecretRef": own}).name == "own-key"


@pytest.mark.parametrize("operator_first", [True, False], ids=["operator-first", "tenant-first"])
async def test_a_resync_pass_sends_each_server_only_its_own_key(make_service, recorder, operator_first):
    """One pass over resources of both kinds: whichever comes first, the tenant's URL never gets
    the operator's key (a per-pass cache of keys must not mix the two bindings up)."""
    service, tenant_url = make_service()
    objects = [tenant_object(None), tenant_object({"url": tenant_url})]
    if not operator_first:
        objects.reverse()
    bodies = []
    for obj in objects:
        made = await service.reconcile(obj)
        bodies.append({"metadata": {"uid": obj.identity.uid, "name": obj.identity.name, "namespace": "tenant",
                                    "generation": 1, "resourceVersion": "1"},
                       "spec": obj.raw_spec, "status": made.status.model_dump(by_alias=True, exclude_none=True, mode="json")})
    recorder.sent.clear()
    in_sync, dirty = await service.resync(bodies)
    assert dirty == [] and len(in_sync) == 2
    assert recorder.keys_sent_to("localhost") == {None}
    assert recorder.keys_sent_to("127.0.0.1") == {OPERATOR_KEY}
    for obj, result in in_sync:
        assert (await service.finalize(tenant_object(obj.raw_spec.get("server"), result.status, obj.identity.uid))).done
