"""LangGraphServer and ClusterLangGraphServer, against the real Agent Server: which key goes where.

As in test_credential_binding.py, two spellings of one real server stand for two servers: the
operator's default URL is 127.0.0.1, and a server object's URL is localhost (or the other way
round). Every request is recorded with the host it went to and the key it carried, so a key sent
where it is not bound shows up whatever the server does with it. The Kubernetes side (Secrets,
server objects, namespace labels) is plain data here; tests/operator covers the watches.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.clients.kube import SecretNotFound
from langgraph_cron.core.connections import ServerHealth, ServerKey
from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.server_lookup import ServerDirectory
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import Identity, parse_spec
from langgraph_cron.engine.servers import ServerService
from langgraph_cron.engine.service import CronService

from tests.agent_server.helpers import NEVER_SOON
from tests.graphs.auth import VALID_KEY

pytestmark = pytest.mark.agent_server

OPERATOR_KEY = "sk-operator-" + uuid.uuid4().hex[:8]
CLUSTER_KEY = "sk-platform-" + uuid.uuid4().hex[:8]
TEAM_KEY = "sk-team-" + uuid.uuid4().hex[:8]
CLUSTER = "test-server-objects"


class FakeKube:
    """Secrets by (namespace, name); status writes recorded."""

    def __init__(self) -> None:
        self.secrets = {("platform", "shared-key"): CLUSTER_KEY, ("tenant", "team-key"): TEAM_KEY,
                        ("platform", "valid-key"): VALID_KEY}
        self.status_writes: list[tuple[str, str | None, str, dict]] = []
        self.objects: dict[tuple[str, str | None, str], dict] = {}
        self.labels: dict[str, dict[str, str]] = {}  # namespace labels the API has
        self.reads: list[str] = []
        self.crons: list[dict] = []  # LangGraphCrons the API has

    async def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        try:
            return self.secrets[namespace, name]
        except KeyError:
            raise SecretNotFound(f"Secret {namespace}/{name} not found") from None

    async def read_configmap_value(self, namespace: str, name: str, key: str) -> str:
        raise SecretNotFound(f"ConfigMap {namespace}/{name} not found or has no key {key!r}")

    async def patch_server_status(self, plural: str, namespace: str | None, name: str, patch: dict) -> None:
        self.status_writes.append((plural, namespace, name, patch))

    # The API's own copies, for what the watch has not delivered yet (ServerDirectory.unseen).
    async def get_server_object(self, plural: str, namespace: str | None, name: str) -> dict | None:
        self.reads.append(f"{plural}/{namespace or ''}/{name}")
        return self.objects.get((plural, namespace, name))

    async def list_langgraphcrons(self, namespace: str | None = None) -> list[dict]:
        self.reads.append(f"langgraphcrons/{namespace or ''}")
        return [c for c in self.crons if namespace is None or c["metadata"]["namespace"] == namespace]

    async def namespace_labels(self, name: str) -> dict[str, str] | None:
        self.reads.append(f"namespaces/{name}")
        return self.labels.get(name)


def cluster_server(name: str, url: str, *, conditions: list | None = None, secret: str = "shared-key",
                   generation: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url, "apiKeySecretRef": {"name": secret, "key": "apiKey", "namespace": "platform"}}
    if conditions is not None:
        spec["conditions"] = conditions
    return {"kind": "ClusterLangGraphServer", "metadata": {"name": name, "generation": generation}, "spec": spec}


def team_server(name: str, url: str, namespace: str = "tenant") -> dict[str, Any]:
    return {"kind": "LangGraphServer", "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"url": url, "apiKeySecretRef": {"name": "team-key", "key": "apiKey"}}}


class World:
    """A CronService with server objects, as the operator's watches would show them."""

    def __init__(self, http: httpx.AsyncClient, operator_url: str, **settings: Any) -> None:
        self.kube = FakeKube()
        self.directory = ServerDirectory()
        self.directory.indexes = {"namespaced": {}, "cluster": {}, "namespaces": {}}
        self.service = CronService(Settings(server_url=operator_url, api_key=OPERATOR_KEY, cluster_id=CLUSTER,
                                            **settings), http, kube=self.kube)
        self.service.servers = self.directory
        self.servers = ServerService(self.service, self.directory, self.kube)

    def add(self, body: dict[str, Any], *, ready: bool | None = True) -> ServerKey:
        key = ServerKey.of_body(body)
        self.directory.indexes["cluster" if key.namespace is None else "namespaced"][key] = [body]
        if ready is not None:
            self.directory.checks[key] = ServerHealth(1, body["spec"]["url"], ready, "Connected" if ready else
                                                      "Unreachable", "" if ready else "connection refused")
        return key

    def label_namespace(self, namespace: str, labels: dict[str, str]) -> None:
        self.directory.indexes["namespaces"][namespace] = [labels]

    def in_api_only(self, body: dict[str, Any]) -> None:
        """A server object the API has and the watch has not delivered yet (a start, a takeover)."""
        plural = "clusterlanggraphservers" if body["kind"] == "ClusterLangGraphServer" else "langgraphservers"
        self.kube.objects[plural, body["metadata"].get("namespace"), body["metadata"]["name"]] = body


@pytest.fixture
async def world(agent_server, recorder):
    clients: list[httpx.AsyncClient] = []

    def make(**settings: Any) -> World:
        clients.append(make_http_client(timeout=10.0, transport=recorder))
        return World(clients[-1], agent_server.url, **settings)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
def other_url(agent_server) -> str:
    return agent_server.url.replace("127.0.0.1", "localhost")


def cron(spec_extra: dict[str, Any] | None = None, *, status: LangGraphCronStatus | None = None, uid: str | None = None,
         namespace: str = "tenant") -> CronObject:
    uid = uid or str(uuid.uuid4())
    spec = {"schedule": NEVER_SOON, "assistantId": "agent", **(spec_extra or {})}
    return CronObject(identity=Identity(uid=uid, namespace=namespace, name=f"c-{uid[:8]}", cluster=CLUSTER),
                      generation=1, raw_spec=spec, status=status or LangGraphCronStatus())


def ready_of(result) -> tuple[str, str, str]:
    ready = result.status.condition("Ready")
    return ready.status, ready.reason, ready.message


async def made_and_deleted(service: CronService, obj: CronObject) -> LangGraphCronStatus:
    made = await service.reconcile(obj)
    assert ready_of(made)[0] == "True", ready_of(made)
    assert (await service.finalize(cron(obj.raw_spec, status=made.status, uid=obj.identity.uid,
                                        namespace=obj.identity.namespace))).done
    return made.status


CLUSTER_REF = {"serverRef": {"kind": "ClusterLangGraphServer", "name": "shared"}}


async def test_a_cluster_server_that_allows_the_namespace_gets_exactly_its_own_key(world, recorder, other_url):
    w = world()
    w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]))
    status = await made_and_deleted(w.service, cron(CLUSTER_REF))
    assert recorder.keys_sent_to("localhost") == {CLUSTER_KEY}
    assert "127.0.0.1" not in {host for host, _ in recorder.sent}  # nothing to the operator's URL
    assert status.server_ref.model_dump() == {"kind": "ClusterLangGraphServer", "name": "shared"}
    assert status.server_url == other_url


@pytest.mark.parametrize("conditions", [
    None,
    [],
    [{"namespaces": ["team-a", "team-b"]}],
    [{"namespaceRegexes": ["team-.*"]}],
    [{"namespaceSelector": {"matchLabels": {"lgcron.io/agents": "allowed"}}}],
], ids=["no-conditions", "empty-conditions", "other-names", "other-regex", "unmatched-selector"])
async def test_a_cluster_server_outside_its_conditions_is_server_not_allowed_with_zero_requests(
        world, recorder, other_url, conditions):
    w = world()
    w.add(cluster_server("shared", other_url, conditions=conditions))
    w.label_namespace("tenant", {"lgcron.io/agents": "denied"})
    result = await w.service.reconcile(cron(CLUSTER_REF))
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", "ServerNotAllowed")
    assert "spec.serverRef" in message and "'tenant'" in message and result.done and result.retry_after is None
    assert [e.reason for e in result.events] == ["ServerNotAllowed"]
    assert recorder.sent == []


@pytest.mark.parametrize("conditions", [
    [{"namespaces": ["other"]}, {"namespaceRegexes": ["ten.nt"]}],
    [{"namespaceSelector": {"matchLabels": {"lgcron.io/agents": "allowed"}}}],
    [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["x", "y"]}]}}],
    [{"namespaceSelector": {}}],
], ids=["second-entry-regex", "selector-labels", "selector-expression", "empty-selector-matches-all"])
async def test_any_matching_condition_entry_allows_the_namespace(world, recorder, other_url, conditions):
    w = world()
    w.add(cluster_server("shared", other_url, conditions=conditions))
    w.label_namespace("tenant", {"lgcron.io/agents": "allowed", "team": "y"})
    await made_and_deleted(w.service, cron(CLUSTER_REF))
    assert recorder.keys_sent_to("localhost") == {CLUSTER_KEY}


async def test_a_namespaced_server_of_another_namespace_cannot_be_named(world, recorder, other_url):
    w = world()
    w.add(team_server("team-server", other_url, namespace="other-team"))
    result = await w.service.reconcile(cron({"serverRef": {"name": "team-server"}}))
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", "ServerNotFound")
    assert "LangGraphServer 'team-server' does not exist in namespace 'tenant'" in message
    # A namespace field is no way around it: the ref has none.
    result = await w.service.reconcile(cron({"serverRef": {"name": "team-server", "namespace": "other-team"}}))
    assert ready_of(result)[:2] == ("False", "InvalidSpec") and "spec.serverRef.namespace" in ready_of(result)[2]
    assert recorder.sent == []


async def test_a_namespaced_server_gets_its_own_key_and_the_operator_key_goes_nowhere_else(world, recorder, other_url):
    w = world()
    w.add(team_server("team-server", other_url))
    await made_and_deleted(w.service, cron({"serverRef": {"name": "team-server"}}))
    await made_and_deleted(w.service, cron())  # a cron naming no server: the operator's default
    assert recorder.keys_sent_to("localhost") == {TEAM_KEY}
    assert recorder.keys_sent_to("127.0.0.1") == {OPERATOR_KEY}


async def test_a_namespaced_server_outside_the_allowlist_is_not_allowed_with_zero_requests(world, recorder, other_url):
    w = world(allowed_server_urls=["*.agents.example.com"])
    key = w.add(team_server("team-server", other_url), ready=None)
    result = await w.service.reconcile(cron({"serverRef": {"name": "team-server"}}))
    assert ready_of(result)[:2] == ("False", "ServerNotAllowed")
    # Its own check sends nothing either, and says why.
    health = await w.servers.check(w.directory.server(key), w.service.clock())
    assert (health.ready, health.reason) == (False, "NotAllowed")
    assert recorder.sent == []


async def test_a_missing_or_unready_server_gets_its_own_reason_and_no_request(world, recorder, other_url):
    w = world()
    result = await w.service.reconcile(cron(CLUSTER_REF))
    assert ready_of(result)[:2] == ("False", "ServerNotFound")
    w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]), ready=False)
    result = await w.service.reconcile(cron(CLUSTER_REF))
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", "ServerNotReady") and "Unreachable" in message
    assert result.done and result.retry_after is None  # no poll: a change of the server requeues it
    assert recorder.sent == []


async def test_server_ref_and_inline_server_are_mutually_exclusive(world, recorder, other_url):
    w = world()
    result = await w.service.reconcile(cron({**CLUSTER_REF, "server": {"url": other_url}}))
    status, reason, message = ready_of(result)
    assert (status, reason) == ("False", "InvalidSpec")
    assert "spec.serverRef: mutually exclusive with spec.server" in message
    assert recorder.sent == []


async def test_a_url_change_moves_the_cron_create_first_and_the_old_one_goes_with_the_key(
        world, recorder, agent_server, auth_server, other_url, client):
    """The server object moves from one real server (localhost) to another (the auth server): the
    cron is made on the new one, then the old one is deleted with the object's key (the old URL is
    in its boundUrls). Status names the old server until its cron is gone."""
    w = world()
    w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}], secret="valid-key"))
    obj = cron(CLUSTER_REF)
    first = await w.service.reconcile(obj)
    moved_body = cluster_server("shared", auth_server.url, conditions=[{"namespaces": ["tenant"]}],
                                secret="valid-key", generation=2)
    moved_body["status"] = {"boundUrls": [other_url]}
    w.add(moved_body)
    w.directory.checks[ServerKey.of_body(moved_body)] = ServerHealth(2, auth_server.url, True, "Connected", "")
    recorder.sent.clear()
    recorder.requests.clear()
    moved = await w.service.reconcile(cron(CLUSTER_REF, status=first.status, uid=obj.identity.uid))
    assert ready_of(moved)[0] == "True" and moved.status.server_url == auth_server.url
    assert moved.status.cron_id != first.status.cron_id
    assert [e.reason for e in moved.events] == ["Moved", "Deleted"]
    creates = [i for i, r in enumerate(recorder.requests) if r == "POST /runs/crons"]
    deletes = [i for i, r in enumerate(recorder.requests) if r.startswith("DELETE")]
    assert creates and deletes and creates[-1] < deletes[0], recorder.requests
    assert {key for _, key in recorder.sent} == {VALID_KEY}
    assert await client.search(metadata={"lgcron.io/uid": obj.identity.uid}) == []  # none left on the old server
    assert (await w.service.finalize(cron(CLUSTER_REF, status=moved.status, uid=obj.identity.uid))).done


async def test_a_url_change_to_another_name_of_the_same_server_keeps_the_cron(
        world, recorder, agent_server, other_url, client):
    w = world()
    w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]))
    obj = cron(CLUSTER_REF)
    first = await w.service.reconcile(obj)
    renamed = cluster_server("shared", agent_server.url, conditions=[{"namespaces": ["tenant"]}], generation=2)
    renamed["status"] = {"boundUrls": [other_url]}
    w.add(renamed)
    w.directory.checks[ServerKey.of_body(renamed)] = ServerHealth(2, agent_server.url, True, "Connected", "")
    moved = await w.service.reconcile(cron(CLUSTER_REF, status=first.status, uid=obj.identity.uid))
    assert ready_of(moved)[0] == "True" and moved.status.server_url == agent_server.url
    assert [c.cron_id for c in await client.search(metadata={"lgcron.io/uid": obj.identity.uid})] == [
        first.status.cron_id]
    assert (await w.service.finalize(cron(CLUSTER_REF, status=moved.status, uid=obj.identity.uid))).done


async def test_a_forged_status_url_gets_no_server_objects_key(world, recorder, agent_server, other_url):
    """status.serverUrl names a URL the server object never had: the deletion there carries no key."""
    w = world()
    w.add(cluster_server("shared", agent_server.url, conditions=[{"namespaces": ["tenant"]}]))
    forged = LangGraphCronStatus.model_validate(
        {"cronId": str(uuid.uuid4()), "serverUrl": other_url, "serverRef": CLUSTER_REF["serverRef"]})
    await w.service.finalize(cron(CLUSTER_REF, status=forged))
    assert recorder.keys_sent_to("localhost") == {None}


async def test_a_key_rotation_needs_no_cron_change(world, recorder, other_url):
    w = world()
    w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]))
    obj = cron(CLUSTER_REF)
    made = await w.service.reconcile(obj)
    w.kube.secrets["platform", "shared-key"] = "sk-rotated"
    recorder.sent.clear()
    again = await w.service.reconcile(cron(CLUSTER_REF, status=made.status, uid=obj.identity.uid))
    assert ready_of(again)[0] == "True" and again.status.cron_id == made.status.cron_id
    assert recorder.keys_sent_to("localhost") == {"sk-rotated"}
    assert (await w.service.finalize(cron(CLUSTER_REF, status=again.status, uid=obj.identity.uid))).done


async def test_the_cronjob_backend_never_hands_a_cluster_servers_key_to_pods(world, other_url):
    w = world()
    w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]))
    w.add(team_server("team-server", other_url))
    ns = "tenant"
    shared = w.service.connection(parse_spec({"schedule": NEVER_SOON, "assistantId": "a", **CLUSTER_REF}), ns)
    with pytest.raises(Exception) as refused:
        w.service.pod_secret(shared, ns)
    assert getattr(refused.value, "reason", None) == "ServerNotAllowed" and "never handed to Pods" in str(refused.value)
    team = w.service.connection(parse_spec({"schedule": NEVER_SOON, "assistantId": "a",
                                            "serverRef": {"name": "team-server"}}), ns)
    assert w.service.pod_secret(team, ns).name == "team-key"


# ---------------------------------------------------------------- checks of server objects


async def test_a_reachable_server_is_ready_with_its_version_and_this_clusters_cron_count(world, other_url):
    w = world()
    key = w.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]), ready=None)
    obj = cron(CLUSTER_REF)
    w.directory.checks[key] = ServerHealth(1, other_url, True, "Connected", "")
    made = await w.service.reconcile(obj)
    before, health = await w.servers.check_and_store(w.directory.server(key), [])
    assert (health.ready, health.reason) == (True, "Connected")
    assert health.version and health.version[0].isdigit()  # langgraph-api's version, e.g. 0.16.7
    assert health.cron_count is not None and health.cron_count >= 1
    [(plural, namespace, name, patch)] = w.kube.status_writes
    assert (plural, namespace, name) == ("clusterlanggraphservers", None, "shared")
    assert patch["conditions"][0]["type"] == "Ready" and patch["conditions"][0]["status"] == "True"
    assert patch["url"] == other_url and patch["boundUrls"] == [other_url] and patch["observedGeneration"] == 1
    assert patch["serverVersion"] == health.version and patch["cronCount"] == health.cron_count
    assert (await w.service.finalize(cron(CLUSTER_REF, status=made.status, uid=obj.identity.uid))).done


async def test_failed_checks_say_what_is_wrong(world, auth_server):
    w = world()
    cases = {
        "Unauthorized": cluster_server("wrong-key", auth_server.url),  # shared-key is not the auth server's key
        "SecretNotFound": cluster_server("no-secret", auth_server.url, secret="missing"),
        "Unreachable": cluster_server("down", "http://127.0.0.1:9"),
    }
    for reason, body in cases.items():
        health = await w.servers.check(body, w.service.clock())
        assert (health.ready, health.reason) == (False, reason), health
        assert CLUSTER_KEY not in health.message
    good = await w.servers.check(cluster_server("good", auth_server.url, secret="valid-key"), w.service.clock())
    assert (good.ready, good.reason) == (True, "Connected")


async def test_a_bad_or_missing_ca_bundle_is_said_and_nothing_is_sent(world, recorder, other_url):
    w = world()
    pem = {**cluster_server("pem", other_url), "spec": {**cluster_server("pem", other_url)["spec"],
                                                         "caBundle": "not a certificate"}}
    health = await w.servers.check(pem, w.service.clock())
    assert (health.ready, health.reason) == (False, "InvalidSpec") and "caBundle" in health.message
    ref = {**cluster_server("ref", other_url), "spec": {**cluster_server("ref", other_url)["spec"], "caBundleRef": {
        "kind": "ConfigMap", "name": "corp-ca", "key": "ca.crt", "namespace": "platform"}}}
    health = await w.servers.check(ref, w.service.clock())
    assert (health.ready, health.reason) == (False, "SecretNotFound") and "corp-ca" in health.message
    assert recorder.sent == []


# ---------------------------------------------------------------- before the watch has delivered a server object


def checked_ready(body: dict[str, Any]) -> dict[str, Any]:
    """The server object's status as the previous operator left it: Ready for this generation and URL."""
    return {**body, "status": {"observedGeneration": body["metadata"]["generation"], "url": body["spec"]["url"],
                               "conditions": [{"type": "Ready", "status": "True", "reason": "Connected",
                                               "message": "", "lastTransitionTime": "2026-12-05T00:00:00Z"}]}}


async def test_a_deletion_after_a_restart_carries_the_key_of_a_server_the_watch_has_not_delivered(
        world, recorder, other_url, client):
    """kopf hands a resource over before or after its server object, in any order: the deletion reads
    the server object from the API rather than going out with no key (which a server with auth refuses,
    holding the deletion for a minute)."""
    before = world()
    before.add(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]))
    obj = cron(CLUSTER_REF)
    made = await before.service.reconcile(obj)
    assert ready_of(made)[0] == "True"
    after = world()  # a new operator: its watch has delivered the cron, not yet the server object
    after.in_api_only(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]))
    recorder.sent.clear()
    done = await after.service.finalize(cron(CLUSTER_REF, status=made.status, uid=obj.identity.uid))
    assert done.done, ready_of(done)
    assert recorder.keys_sent_to("localhost") == {CLUSTER_KEY}
    assert after.kube.reads == ["clusterlanggraphservers//shared"]
    assert await client.search(metadata={"lgcron.io/uid": obj.identity.uid}) == []


async def test_a_resumed_cron_does_not_read_server_not_found_for_a_server_that_exists(world, recorder, other_url):
    """Its server object's status says Ready (the previous operator's check): Ready, with no new check,
    and the object is read once, not on every reconcile."""
    w = world()
    w.in_api_only(checked_ready(cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}])))
    obj = cron(CLUSTER_REF)
    made = await w.service.reconcile(obj)
    assert ready_of(made)[0] == "True", ready_of(made)
    again = await w.service.reconcile(cron(CLUSTER_REF, status=made.status, uid=obj.identity.uid))
    assert ready_of(again)[0] == "True"
    assert w.kube.reads == ["clusterlanggraphservers//shared"]
    assert recorder.keys_sent_to("localhost") == {CLUSTER_KEY}
    assert (await w.service.finalize(cron(CLUSTER_REF, status=again.status, uid=obj.identity.uid))).done


async def test_a_server_the_api_has_not_either_is_still_not_found_and_read_once(world, recorder):
    w = world()
    for _ in range(2):
        result = await w.service.reconcile(cron(CLUSTER_REF))
        assert ready_of(result)[:2] == ("False", "ServerNotFound")
    assert w.kube.reads == ["clusterlanggraphservers//shared"]  # the 404 is remembered too
    assert recorder.sent == []


async def test_namespace_labels_the_watch_has_not_delivered_are_read_for_a_selector(world, recorder, other_url):
    w = world()
    selector = [{"namespaceSelector": {"matchLabels": {"lgcron.io/agents": "allowed"}}}]
    w.add(cluster_server("shared", other_url, conditions=selector))
    w.kube.labels["tenant"] = {"lgcron.io/agents": "allowed"}
    status = await made_and_deleted(w.service, cron(CLUSTER_REF))
    assert status.server_url == other_url
    assert w.kube.reads == ["namespaces/tenant"]
    assert recorder.keys_sent_to("localhost") == {CLUSTER_KEY}


async def test_a_server_object_is_not_let_go_while_the_api_has_a_cron_the_watch_has_not_delivered(world, other_url):
    """Its deletion after a start: the registry may not hold every cron yet, so an empty registry is
    confirmed with a list before the server (and the key its crons' deletions need) may go."""
    w = world()
    server = {**cluster_server("shared", other_url, conditions=[{"namespaces": ["tenant"]}]),
              "metadata": {"name": "shared", "generation": 1, "deletionTimestamp": "2026-12-05T00:00:00Z"}}
    user = {"metadata": {"namespace": "tenant", "name": "user"}, "spec": {"serverRef": CLUSTER_REF["serverRef"]},
            "status": {"serverRef": CLUSTER_REF["serverRef"], "cronId": str(uuid.uuid4())}}
    w.kube.crons.append(user)
    assert await w.servers.hold_while_used(server, []) == ["tenant/user"]
    assert w.kube.reads == ["langgraphcrons/"]
    assert w.kube.status_writes and w.kube.status_writes[-1][3]["inUseBy"] == 1
    w.kube.crons.clear()
    assert await w.servers.hold_while_used(server, []) == []
    # What the watch delivered is enough to hold it: no list then.
    w.kube.reads.clear()
    assert await w.servers.hold_while_used(server, [user]) == ["tenant/user"]
    assert w.kube.reads == []
