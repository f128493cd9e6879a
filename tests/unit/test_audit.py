"""Orphaned crons: the pure decision, the audit and one GC pass against a fake server and API."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from langgraph_cron.cli import build_parser
from langgraph_cron.cli.audit import run_audit
from langgraph_cron.clients.agent_server import AgentServerClient, Cron
from langgraph_cron.clients.kube import KubernetesApiError
from langgraph_cron.core.orphans import find_orphans, orphan_table
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import RELEASED_KEY
from langgraph_cron.engine.gc import gc_pass
from langgraph_cron.engine.service import CronService

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
CLUSTER = "cluster-a"


def cron(cron_id, *, uid=None, namespace="team-a", name="job", cluster=CLUSTER, age=3600.0, **extra):
    metadata = {"lgcron.io/namespace": namespace, "lgcron.io/name": name, **extra}
    if uid:
        metadata["lgcron.io/uid"] = uid
    if cluster:
        metadata["lgcron.io/cluster"] = cluster
    created = NOW - timedelta(seconds=age) if age is not None else None
    return Cron(cron_id=cron_id, schedule="0 9 * * *", metadata=metadata, created_at=created)


def ids(crons):
    return [c.cron_id for c in crons]


# ---------------------------------------------------------------- find_orphans


def test_a_cron_whose_uid_is_not_live_is_an_orphan_and_a_live_ones_is_not():
    crons = [cron("live", uid="u-live"), cron("gone", uid="u-gone", name="gone")]
    assert ids(find_orphans(crons, {"u-live"}, CLUSTER)) == ["gone"]


def test_same_namespace_and_name_with_another_uid_means_the_old_resource_is_gone():
    crons = [cron("old", uid="u-old", name="job"), cron("new", uid="u-new", name="job")]
    assert ids(find_orphans(crons, {"u-new"}, CLUSTER)) == ["old"]


def test_other_clusters_file_mode_and_released_crons_are_never_orphans():
    crons = [
        cron("other-cluster", uid="u-1", cluster="cluster-b"),
        cron("untagged-cluster", uid="u-2", cluster=None),
        cron("file-mode", cluster=None),  # lgcron apply: namespace/name only
        cron("file-mode-tagged", cluster=CLUSTER),  # no uid: nothing to check it against
        cron("released", uid="u-3", **{RELEASED_KEY: "true"}),
    ]
    assert find_orphans(crons, set(), CLUSTER) == []


def test_namespaces_limit_the_answer():
    crons = [cron("a", uid="u-a", namespace="team-a"), cron("b", uid="u-b", namespace="team-b")]
    assert ids(find_orphans(crons, set(), CLUSTER, namespaces={"team-b"})) == ["b"]
    assert ids(find_orphans(crons, set(), CLUSTER, namespaces=None)) == ["a", "b"]
    assert find_orphans(crons, set(), CLUSTER, namespaces=set()) == []


def test_young_crons_and_crons_of_unknown_age_wait_for_min_age():
    crons = [
        cron("young", uid="u-1", age=30),
        cron("old", uid="u-2", age=90),
        cron("unknown", uid="u-3", age=None),
        Cron(cron_id="naive", schedule="* * * * *", created_at=(NOW - timedelta(seconds=120)).replace(tzinfo=None),
             metadata={"lgcron.io/uid": "u-4", "lgcron.io/cluster": CLUSTER, "lgcron.io/namespace": "team-a"}),
    ]
    assert set(ids(find_orphans(crons, set(), CLUSTER, now=NOW, min_age=60))) == {"old", "naive"}
    assert set(ids(find_orphans(crons, set(), CLUSTER, now=NOW))) == {"young", "old", "unknown", "naive"}


def test_orphans_come_sorted_by_namespace_and_name_and_print_as_a_table():
    crons = [cron("c2", uid="u-2", namespace="b", name="x"), cron("c1", uid="u-1", namespace="a", name="y")]
    orphans = find_orphans(crons, set(), CLUSTER)
    assert ids(orphans) == ["c1", "c2"]
    header, first, second = orphan_table(orphans).splitlines()
    assert header.split() == ["CRON", "ID", "NAMESPACE", "NAME", "UID", "SCHEDULE", "CREATED"]
    assert first.split() == ["c1", "a", "y", "u-1", "0", "9", "*", "*", "*", "2026-11-22T09:00:00Z"]
    assert second.startswith("c2 ")


# ---------------------------------------------------------------- a fake Agent Server


class FakeServer:
    """Search (metadata containment, paging) and delete, as the Agent Server answers them."""

    def __init__(self, crons, fail_delete=()):
        self.crons = {c.cron_id: c for c in crons}
        self.fail_delete = set(fail_delete)
        self.searches: list[tuple[str, dict]] = []
        self.keys: list[tuple[str, str | None]] = []  # (host, x-api-key) of each search

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/runs/crons/search":
            body = json.loads(request.content)
            self.searches.append((request.url.host, body["metadata"]))
            self.keys.append((request.url.host, request.headers.get("x-api-key")))
            found = [c for c in self.crons.values() if body["metadata"].items() <= c.metadata.items()]
            page = found[body["offset"]: body["offset"] + body["limit"]]
            return httpx.Response(200, json=[c.model_dump(mode="json") for c in page])
        if request.method == "DELETE":
            cron_id = request.url.path.rsplit("/", 1)[1]
            if cron_id in self.fail_delete:
                return httpx.Response(503, json={"detail": "try later"})
            if self.crons.pop(cron_id, None) is None:
                return httpx.Response(404, json={"detail": "not found"})
            return httpx.Response(204)
        return httpx.Response(500)


@pytest.fixture
def fake():
    return FakeServer([])


@pytest.fixture
async def http(fake):
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        yield client


async def live(uids):
    return set(uids)


# ---------------------------------------------------------------- run_audit


async def test_audit_lists_without_deleting_then_deletes_only_the_orphans(fake, http):
    fake.crons = {c.cron_id: c for c in [cron("live", uid="u-live"), cron("gone", uid="u-gone"),
                                           cron("other", uid="u-x", cluster="cluster-b"), cron("file", cluster=None)]}
    client = AgentServerClient(http, "http://server")

    listed = await run_audit(client, lambda: live({"u-live"}), CLUSTER)
    assert (listed.checked, ids(listed.orphans), listed.deleted) == (2, ["gone"], [])
    assert fake.searches == [("server", {"lgcron.io/cluster": CLUSTER})]
    assert set(fake.crons) == {"live", "gone", "other", "file"}

    deleted = await run_audit(client, lambda: live({"u-live"}), CLUSTER, delete=True)
    assert deleted.deleted == ["gone"] and deleted.failed == []
    assert set(fake.crons) == {"live", "other", "file"}


async def test_audit_reports_deletions_that_failed(fake, http):
    fake.crons = {c.cron_id: c for c in [cron("a", uid="u-a", name="a"), cron("b", uid="u-b", name="b")]}
    fake.fail_delete = {"a"}
    result = await run_audit(AgentServerClient(http, "http://server"), lambda: live(()), CLUSTER, delete=True)
    assert result.deleted == ["b"]
    assert len(result.failed) == 1 and result.failed[0].startswith("a: ")


def test_audit_command_line():
    args = build_parser().parse_args(["audit", "--server", "http://s", "--cluster", "c", "-n", "a", "-n", "b",
                                      "--delete"])
    assert (args.server, args.cluster, args.namespace, args.delete) == ("http://s", "c", ["a", "b"], True)
    defaults = build_parser().parse_args(["audit"])
    assert (defaults.server, defaults.cluster, defaults.namespace, defaults.delete) == (None, None, None, False)


# ---------------------------------------------------------------- one GC pass


class FakeKube:
    """LangGraphCrons by (namespace, name); a namespace in `forbidden` answers 403."""

    def __init__(self, objects=(), forbidden=()):
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.forbidden = set(forbidden)
        self.gets: list[tuple[str, str]] = []

    async def get_langgraphcron(self, namespace, name):
        self.gets.append((namespace, name))
        if namespace in self.forbidden:
            raise KubernetesApiError("GET", f"/{namespace}/{name}", 403, '{"message": "forbidden"}')
        return self.objects.get((namespace, name))

    async def read_secret_value(self, namespace, name, key):
        return "key-from-secret"


def body(name, uid, namespace="team-a", **spec):
    spec = {"schedule": "0 9 1 1 *", "assistantId": "agent", **spec}
    return {"metadata": {"namespace": namespace, "name": name, "uid": uid}, "spec": spec, "status": {}}


def service(http, **settings):
    values = {"server_url": "http://default", "cluster_id": CLUSTER, "gc_interval": 1, "gc_min_age": 60, **settings}
    return CronService(Settings(**values), http, None, clock=lambda: NOW)


async def collect(http, kube, registry, *, clusterwide=False, **settings):
    events = []
    deleted = await gc_pass(service(http, **settings), kube, registry, clusterwide=clusterwide,
                            post_event=lambda ref, reason, message: events.append((ref, reason, message)))
    return deleted, events


async def test_gc_deletes_an_orphan_and_names_the_gone_resource_in_its_event(fake, http):
    fake.crons = {"live": cron("live", uid="u-live", name="live"), "gone": cron("gone", uid="u-gone", name="gone")}
    deleted, events = await collect(http, FakeKube([body("live", "u-live")]), {"u-live": body("live", "u-live")})

    assert deleted == ["gone"] and set(fake.crons) == {"live"}
    [(ref, reason, message)] = events
    assert ref == {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron",
                   "metadata": {"namespace": "team-a", "name": "gone", "uid": "u-gone"}}
    assert reason == "OrphanDeleted" and "gone" in message and "u-gone" in message


async def test_gc_keeps_the_cron_of_a_resource_the_registry_has_not_seen_yet(fake, http):
    fake.crons = {"c": cron("c", uid="u-new", name="new"), "anchor": cron("anchor", uid="u-live", name="live")}
    kube = FakeKube([body("live", "u-live"), body("new", "u-new")])
    deleted, events = await collect(http, kube, {"u-live": body("live", "u-live")})
    assert (deleted, events) == ([], [])
    assert ("team-a", "new") in kube.gets


async def test_gc_deletes_when_the_name_now_belongs_to_another_uid(fake, http):
    fake.crons = {"old": cron("old", uid="u-old", name="job")}
    kube = FakeKube([body("job", "u-new")])
    deleted, _ = await collect(http, kube, {"u-new": body("job", "u-new")})
    assert deleted == ["old"]


async def test_gc_leaves_unreadable_young_other_namespace_and_other_cluster_crons_alone(fake, http):
    fake.crons = {c.cron_id: c for c in [
        cron("forbidden", uid="u-1", namespace="locked"),
        cron("young", uid="u-2", age=10),
        cron("unwatched", uid="u-3", namespace="team-b"),
        cron("other", uid="u-4", cluster="cluster-b"),
        cron("file", cluster=None),
    ]}
    registry = {"u-live": body("live", "u-live"), "u-l2": body("l2", "u-l2", namespace="locked")}
    deleted, events = await collect(http, FakeKube(forbidden={"locked"}), registry)
    assert (deleted, events) == ([], [])
    assert len(fake.crons) == 5


async def test_gc_of_a_clusterwide_operator_covers_every_namespace(fake, http):
    fake.crons = {"unwatched": cron("unwatched", uid="u-3", namespace="team-b")}
    deleted, _ = await collect(http, FakeKube(), {}, clusterwide=True)
    assert deleted == ["unwatched"]


async def test_gc_searches_every_server_in_use_and_the_default_one(fake, http):
    registry = {
        "u-1": body("a", "u-1", server={"url": "http://own", "apiKeySecretRef": {"name": "s", "key": "k"}}),
        "u-2": {**body("b", "u-2"), "status": {"serverUrl": "http://previous"}},
    }
    await collect(http, FakeKube(), registry)
    assert {host for host, _ in fake.searches} == {"own", "default", "previous"}
    assert all(metadata == {"lgcron.io/cluster": CLUSTER} for _, metadata in fake.searches)


async def test_gc_searches_the_servers_of_server_objects_with_their_own_key(fake, http):
    """A cron through a ClusterLangGraphServer: the GC searches that server's URL with that server's key."""
    from langgraph_cron.core.connections import ServerKey
    from langgraph_cron.core.server_lookup import ServerDirectory

    svc = service(http)
    directory = ServerDirectory()
    shared = {"kind": "ClusterLangGraphServer", "metadata": {"name": "shared", "generation": 1},
              "spec": {"url": "http://shared", "apiKeySecretRef": {"name": "s", "key": "k", "namespace": "platform"},
                       "conditions": [{"namespaces": ["team-a"]}]}}
    directory.indexes = {"cluster": {ServerKey.of_body(shared): [shared]}, "namespaced": {}, "namespaces": {}}
    svc.servers = directory

    class Secrets(FakeKube):
        async def read_secret_value(self, namespace, name, key):
            assert (namespace, name) == ("platform", "s")
            return "platform-key"

    svc.kube = Secrets()
    registry = {"u-1": body("a", "u-1", serverRef={"kind": "ClusterLangGraphServer", "name": "shared"})}
    await gc_pass(svc, Secrets(), registry, clusterwide=False, post_event=lambda *a: None)
    assert {host for host, _ in fake.searches} == {"shared", "default"}
    assert {key for host, key in fake.keys if host == "shared"} == {"platform-key"}
