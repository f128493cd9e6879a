"""LangGraphServer and ClusterLangGraphServer end to end: the shipped operator, kmock or a real
cluster, and real Agent Servers.

The operator's default server (LGCRON_SERVER_URL, with the sentinel key) is the proxied session
server. Server objects point at a `HeaderRecorder`: a loopback HTTP listener that records the
x-api-key of every request and forwards it to a real Agent Server, so every test can say exactly
which key arrived where.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import kubernetes
import pytest
from aiohttp import web
from kube_test_api import LGCRON_API_VERSION, api_path
from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client
from langgraph_cron.clients.devserver import free_port
from operator_helpers import (
    condition,
    event_reasons,
    has_reason,
    is_ready,
    resource,
    wait_until,
)

from tests.graphs.auth import VALID_KEY

pytestmark = [pytest.mark.operator, pytest.mark.timeout(240)]

TEAM_KEY = "sk-team-" + secrets.token_hex(6)
PLATFORM_KEY = VALID_KEY  # accepted by both the session server and the auth server


class HeaderRecorder:
    """An Agent Server in front of a real one: records (method path, x-api-key) of each request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[tuple[str, str | None]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http = httpx.AsyncClient(timeout=10.0)

    async def start(self) -> HeaderRecorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _forward(self, request: web.Request) -> web.Response:
        key = request.headers.get("x-api-key")
        self.seen.append((f"{request.method} {request.path}", key))
        headers = {"x-api-key": key} if key else {}
        if request.content_type == "application/json":
            headers["content-type"] = "application/json"
        upstream = await self._http.request(request.method, self.upstream + request.path_qs,
                                            content=await request.read(), headers=headers)
        return web.Response(status=upstream.status_code, body=upstream.content,
                            content_type=upstream.headers.get("content-type", "application/json").split(";")[0])

    def keys(self) -> set[str | None]:
        return {key for _, key in self.seen}

    async def close(self) -> None:
        await self._http.aclose()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def recorder(agent_server) -> AsyncIterator[HeaderRecorder]:
    listener = await HeaderRecorder(agent_server.url).start()
    yield listener
    await listener.close()


@pytest.fixture
async def auth_recorder(auth_server) -> AsyncIterator[HeaderRecorder]:
    listener = await HeaderRecorder(auth_server.url).start()
    yield listener
    await listener.close()


class ServerObjects:
    """Create, change and delete server objects; cluster-scoped ones are removed at the end."""

    def __init__(self, kube) -> None:
        self.kube = kube
        self.cluster_names: list[str] = []

    def cluster_name(self, base: str) -> str:
        name = f"{base}-{self.kube.namespace}"  # cluster-scoped: unique per test
        self.cluster_names.append(name)
        return name

    @staticmethod
    def path(kind: str, name: str | None = None, namespace: str | None = None, sub: str | None = None) -> str:
        plural = "clusterlanggraphservers" if kind == "ClusterLangGraphServer" else "langgraphservers"
        return api_path(LGCRON_API_VERSION, plural, namespace, name, sub)

    async def create(self, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        namespace = None if kind == "ClusterLangGraphServer" else self.kube.namespace
        body = {"apiVersion": LGCRON_API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
        return await self.kube.call("POST", self.path(kind, namespace=namespace), body)

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        namespace = None if kind == "ClusterLangGraphServer" else self.kube.namespace
        try:
            return await self.kube.call("GET", self.path(kind, name, namespace))
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch(self, kind: str, name: str, merge_patch: dict[str, Any]) -> dict[str, Any]:
        namespace = None if kind == "ClusterLangGraphServer" else self.kube.namespace
        return await self.kube.call("PATCH", self.path(kind, name, namespace), merge_patch,
                                    content_type="application/merge-patch+json")

    async def delete(self, kind: str, name: str) -> None:
        namespace = None if kind == "ClusterLangGraphServer" else self.kube.namespace
        await self.kube.call("DELETE", self.path(kind, name, namespace))

    async def wait_ready(self, kind: str, name: str, timeout: float = 30.0) -> dict[str, Any]:
        async def ready() -> dict[str, Any] | None:
            body = await self.get(kind, name)
            try:
                if body and body["status"]["observedGeneration"] == body["metadata"]["generation"] and condition(
                        body)["status"] == "True":
                    return body
            except (KeyError, StopIteration):
                pass
            return None
        return await wait_until(ready, timeout, f"{kind} {name} Ready")

    async def cleanup(self) -> None:
        for name in self.cluster_names:
            with contextlib.suppress(kubernetes.client.ApiException):
                await self.patch("ClusterLangGraphServer", name, {"metadata": {"finalizers": None}})
            with contextlib.suppress(kubernetes.client.ApiException):
                await self.delete("ClusterLangGraphServer", name)


@pytest.fixture
async def servers(kube) -> AsyncIterator[ServerObjects]:
    objects = ServerObjects(kube)
    yield objects
    await objects.cleanup()


def cluster_spec(url: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "apiKeySecretRef": {"name": "platform-key", "key": "apiKey", "namespace": namespace}, **extra}


async def test_a_cron_waits_for_its_server_object_and_heals_when_it_appears(kube, operator, servers, recorder):
    await kube.create_secret("team-key", {"apiKey": TEAM_KEY})
    async with operator():
        await kube.create(resource("waits", serverRef={"name": "team-server"}))
        waiting = await kube.wait_for("waits", has_reason("ServerNotFound"))
        assert "LangGraphServer 'team-server' does not exist" in condition(waiting)["message"]
        assert recorder.seen == []
        await servers.create("LangGraphServer", "team-server",
                             {"url": recorder.url, "apiKeySecretRef": {"name": "team-key", "key": "apiKey"}})
        ready = await kube.wait_for("waits", is_ready)
        server = await servers.wait_ready("LangGraphServer", "team-server")
    assert ready["status"]["serverUrl"] == recorder.url
    assert ready["status"]["serverRef"] == {"kind": "LangGraphServer", "name": "team-server"}
    status = server["status"]
    assert condition(server)["reason"] == "Connected" and status["url"] == recorder.url
    assert status["serverVersion"] and status["lastCheckTime"] and status["cronCount"] >= 0
    assert recorder.keys() == {TEAM_KEY}  # its own key on every request, and only that
    assert "ServerNotFound" in await event_reasons(kube, "waits")


async def test_a_cluster_server_serves_only_the_namespaces_its_conditions_allow(kube, operator, servers, recorder):
    await kube.create_secret("platform-key", {"apiKey": PLATFORM_KEY})
    name = servers.cluster_name("shared")
    await servers.create("ClusterLangGraphServer", name,
                         cluster_spec(recorder.url, kube.namespace, conditions=[{"namespaces": ["someone-else"]}]))
    ref = {"serverRef": {"kind": "ClusterLangGraphServer", "name": name}}
    async with operator():
        await servers.wait_ready("ClusterLangGraphServer", name)
        checked = len(recorder.seen)  # the server's own check, with its key
        await kube.create(resource("tenant", **ref))
        refused = await kube.wait_for("tenant", has_reason("ServerNotAllowed"))
        assert f"does not allow namespace '{kube.namespace}'" in condition(refused)["message"]
        await asyncio.sleep(3)  # a resync pass (2 s) and its server check come and go
        assert not [what for what, _ in recorder.seen[checked:] if "crons" in what and "count" not in what]
        assert "ServerNotAllowed" in await event_reasons(kube, "tenant")
        # The admin lets the namespace in: the cron heals without any change of its own.
        await servers.patch("ClusterLangGraphServer", name,
                            {"spec": {"conditions": [{"namespaceRegexes": [f"{kube.namespace[:8]}.*"]}]}})
        ready = await kube.wait_for("tenant", is_ready)
    assert ready["status"]["serverUrl"] == recorder.url
    assert recorder.keys() <= {None, PLATFORM_KEY} and PLATFORM_KEY in recorder.keys()


async def test_no_key_reaches_a_url_a_tenant_chose(kube, operator, servers, recorder, monkeypatch):
    """Inline URL without a Secret: requests, but never a key. Namespaced server of another
    namespace, cluster server outside its conditions: no request at all."""
    await kube.create_secret("platform-key", {"apiKey": PLATFORM_KEY})
    name = servers.cluster_name("closed")
    await servers.create("ClusterLangGraphServer", name, cluster_spec(recorder.url, kube.namespace))  # no conditions
    async with operator():
        await kube.create(resource("inline", server={"url": recorder.url}))
        await kube.create(resource("closed", serverRef={"kind": "ClusterLangGraphServer", "name": name}))
        await kube.create(resource("elsewhere", serverRef={"name": "team-server-of-another-namespace"}))
        await kube.wait_for("inline", is_ready)
        await kube.wait_for("closed", has_reason("ServerNotAllowed"))
        await kube.wait_for("elsewhere", has_reason("ServerNotFound"))
        await asyncio.sleep(3)  # a resync pass
    cron_requests = [(what, key) for what, key in recorder.seen if "/runs/crons" in what and "count" not in what]
    assert cron_requests and {key for _, key in cron_requests} == {None}  # the inline cron's, keyless


async def test_a_url_change_moves_every_cron_and_leaves_none_behind(kube, operator, servers, recorder,
                                                                    auth_recorder, server):
    """50 crons on a ClusterLangGraphServer; its URL moves to another Agent Server. Each cron is
    made on the new server, then deleted from the old one: none duplicated, none left."""
    await kube.create_secret("platform-key", {"apiKey": PLATFORM_KEY})
    name = servers.cluster_name("moving")
    await servers.create("ClusterLangGraphServer", name,
                         cluster_spec(recorder.url, kube.namespace, conditions=[{"namespaces": [kube.namespace]}]))
    names = [f"c{i:02d}" for i in range(50)]
    async with operator():
        for cron_name in names:
            await kube.create(resource(cron_name, serverRef={"kind": "ClusterLangGraphServer", "name": name}))
        uids = {}
        for cron_name in names:
            uids[cron_name] = (await kube.wait_for(cron_name, is_ready, timeout=60))["metadata"]["uid"]
        await servers.patch("ClusterLangGraphServer", name, {"spec": {"url": auth_recorder.url}})

        async def all_moved() -> bool:
            return all((obj["status"].get("serverUrl") == auth_recorder.url and is_ready(obj))
                       for obj in await kube.list())
        await wait_until(all_moved, 90, "all 50 crons on the new server")
        moved = await servers.get("ClusterLangGraphServer", name)
    async with make_http_client(timeout=10) as http:
        new = AgentServerClient(http, auth_recorder.url.replace(auth_recorder.url, auth_recorder.upstream), VALID_KEY)
        for cron_name, uid in uids.items():
            assert await server.search(metadata={"lgcron.io/uid": uid}) == [], f"{cron_name} left on the old server"
            assert len(await new.search(metadata={"lgcron.io/uid": uid})) == 1, f"{cron_name} not exactly once"
    assert moved["status"]["boundUrls"][:2] == [auth_recorder.url, recorder.url]
    assert recorder.keys() <= {None, PLATFORM_KEY} and auth_recorder.keys() <= {None, PLATFORM_KEY}
    for cron_name in names:  # leave the auth server clean
        await kube.delete(cron_name)
    async with operator():
        for cron_name in names:
            await kube.wait_gone(cron_name, timeout=60)


async def test_a_deletion_on_a_restart_does_not_wait_for_the_watch_to_deliver_its_server_object(
        kube, kube_emulator, operator, servers, auth_recorder):
    """kopf hands a resource over before or after its server object, in any order (the old flake of
    the test above). Here the new operator cannot list ClusterLangGraphServers for 8 s: the deletion
    reads its server object from the API and goes with its key at once (with no key, the server's
    401 held it for a minute)."""
    await kube.create_secret("platform-key", {"apiKey": PLATFORM_KEY})
    name = servers.cluster_name("late")
    await servers.create("ClusterLangGraphServer", name,
                         cluster_spec(auth_recorder.url, kube.namespace, conditions=[{"namespaces": [kube.namespace]}]))
    async with operator():
        await kube.create(resource("going", serverRef={"kind": "ClusterLangGraphServer", "name": name}))
        made = await kube.wait_for("going", is_ready)
    await kube.delete("going")  # while no operator runs: its finalizer holds it
    unlisted = kube_emulator.fail_requests(
        503, seconds=8, match=lambda r: r.resource is not None and r.resource.plural == "clusterlanggraphservers"
        and r.name is None)
    auth_recorder.seen.clear()
    async with operator():
        started = asyncio.get_running_loop().time()
        await kube.wait_gone("going", timeout=30)
        took = asyncio.get_running_loop().time() - started
    assert unlisted.hits >= 1, "the operator's watch of ClusterLangGraphServers was never refused"
    assert took < 8, f"the deletion waited for the watch ({took:.1f} s)"
    assert (f"DELETE /runs/crons/{made['status']['cronId']}", PLATFORM_KEY) in auth_recorder.seen
    assert auth_recorder.keys() == {PLATFORM_KEY}


async def test_deleting_a_server_in_use_is_held_until_its_crons_are_gone(kube, operator, servers, recorder):
    await kube.create_secret("team-key", {"apiKey": TEAM_KEY})
    await servers.create("LangGraphServer", "team-server",
                         {"url": recorder.url, "apiKeySecretRef": {"name": "team-key", "key": "apiKey"}})
    async with operator():
        await kube.create(resource("user", serverRef={"name": "team-server"}))
        made = await kube.wait_for("user", is_ready)
        await servers.delete("LangGraphServer", "team-server")

        async def held() -> dict[str, Any] | None:
            body = await servers.get("LangGraphServer", "team-server")
            conditions = {c["type"]: c for c in (body or {}).get("status", {}).get("conditions", [])}
            return body if "Terminating" in conditions else None
        body = await wait_until(held, 30, "the deletion to be held")
        assert body["metadata"]["deletionTimestamp"] and body["status"]["inUseBy"] == 1
        assert "1 LangGraphCron(s) still refer to it" in condition(body, "Terminating")["message"]
        async def in_use_event() -> bool:  # posted right after the status write, by the Event poster
            return any(e["reason"] == "InUse" and e["type"] == "Warning" and "user" in e["message"]
                       for e in await kube.events("team-server"))
        await wait_until(in_use_event, 10, "the InUse Warning Event")
        # The cron is deleted with the server's key, which is still there; then the server goes.
        await kube.delete("user")
        await kube.wait_gone("user")

        async def gone() -> bool:
            return await servers.get("LangGraphServer", "team-server") is None
        await wait_until(gone, 30, "the server object to go")
    deletes = [key for what, key in recorder.seen if what == f"DELETE /runs/crons/{made['status']['cronId']}"]
    assert deletes == [TEAM_KEY]


async def test_labelling_the_namespace_lets_a_selector_condition_in(kube, operator, servers, recorder):
    """namespaceSelector reads namespace labels from the operator's watch: labelling the namespace
    requeues the waiting cron, with no change of the cron or the server."""
    await kube.create_secret("platform-key", {"apiKey": PLATFORM_KEY})
    name = servers.cluster_name("labelled")
    label = {"agents.example.com/tier": "paid"}
    await servers.create("ClusterLangGraphServer", name, cluster_spec(
        recorder.url, kube.namespace, conditions=[{"namespaceSelector": {"matchLabels": label}}]))
    async with operator():
        await servers.wait_ready("ClusterLangGraphServer", name)
        await kube.create(resource("selected", serverRef={"kind": "ClusterLangGraphServer", "name": name}))
        await kube.wait_for("selected", has_reason("ServerNotAllowed"))
        await kube.call("PATCH", api_path("v1", "namespaces", name=kube.namespace), {"metadata": {"labels": label}},
                        content_type="application/merge-patch+json")
        ready = await kube.wait_for("selected", is_ready)
    assert ready["status"]["serverRef"]["name"] == name


async def test_a_server_that_turns_ready_heals_its_waiting_crons(kube, operator, servers, recorder):
    """The key's Secret is missing: the server is not Ready (SecretNotFound), its cron waits with
    ServerNotReady. Once the Secret exists, the next check (each resync interval) turns the server
    Ready, which requeues the cron."""
    await servers.create("LangGraphServer", "keyless",
                         {"url": recorder.url, "apiKeySecretRef": {"name": "late-key", "key": "apiKey"}})
    async with operator():
        await kube.create(resource("patient", serverRef={"name": "keyless"}))
        # Whether the cron or the server's first check comes first, the cron ends up saying why.
        waiting = await kube.wait_for("patient", lambda o: has_reason("ServerNotReady")(o)
                                      and "SecretNotFound" in condition(o)["message"])
        assert "late-key" in condition(waiting)["message"]
        body = await servers.get("LangGraphServer", "keyless")
        assert condition(body)["status"] == "False" and condition(body)["reason"] == "SecretNotFound"
        assert recorder.seen == []
        await kube.create_secret("late-key", {"apiKey": TEAM_KEY})
        await kube.wait_for("patient", is_ready)
        await servers.wait_ready("LangGraphServer", "keyless")
    assert recorder.keys() == {TEAM_KEY}


async def test_crons_applied_together_with_their_server_are_ready_within_seconds(kube, operator, servers, recorder,
                                                                                 monkeypatch):
    """The normal GitOps case: a cron and its LangGraphServer in one apply, 20 times over (cron first
    and server first alternating, all at once). Each cron is Ready within seconds, with the resync
    interval far away, so no pass can hide a cron the server's check forgot to requeue."""
    monkeypatch.setenv("LGCRON_RESYNC_INTERVAL", "600")
    await kube.create_secret("team-key", {"apiKey": TEAM_KEY})
    spec = {"url": recorder.url, "apiKeySecretRef": {"name": "team-key", "key": "apiKey"}}

    async def apply_together(i: int) -> None:
        cron = kube.create(resource(f"together-{i:02d}", serverRef={"name": f"server-{i:02d}"}))
        server = servers.create("LangGraphServer", f"server-{i:02d}", spec)
        await asyncio.gather(*((cron, server) if i % 2 else (server, cron)))

    async with operator():
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(apply_together(i) for i in range(20)))
        ready = await asyncio.gather(*(kube.wait_for(f"together-{i:02d}", is_ready, timeout=20) for i in range(20)))
        elapsed = asyncio.get_running_loop().time() - started
    assert [body["status"]["serverRef"]["name"] for body in ready] == [f"server-{i:02d}" for i in range(20)]
    assert elapsed < 20, f"all 20 Ready after {elapsed:.1f}s"


async def test_deleting_a_cron_that_never_sent_a_create_finishes_at_once(kube, operator, servers, auth_recorder):
    """A LangGraphServer with a wrong key (Unauthorized), a cron naming it (ServerNotReady: no cron was
    ever made), `kubectl delete` of the cron: the write-ahead record says no create was ever sent, so
    the deletion needs no server and finishes at once, with no request to the server about crons."""
    await kube.create_secret("wrong-key", {"apiKey": "sk-not-the-key"})
    await servers.create("LangGraphServer", "refusing",
                         {"url": auth_recorder.url, "apiKeySecretRef": {"name": "wrong-key", "key": "apiKey"}})
    async with operator():
        await kube.create(resource("never-made", serverRef={"name": "refusing"}))
        waiting = await kube.wait_for("never-made", lambda o: has_reason("ServerNotReady")(o)
                                      and "Unauthorized" in condition(o)["message"])
        assert waiting["status"]["createSent"] is False
        await kube.delete("never-made")
        await kube.wait_gone("never-made", timeout=10)
    assert not [what for what, _ in auth_recorder.seen if what.startswith(("POST /runs/crons", "DELETE /runs/crons"))
                and "count" not in what]


async def test_a_held_deletion_says_how_to_release_it(kube, operator, servers, auth_recorder):
    """A cron that was made, then its server's key goes wrong: its deletion must wait (the cron is on
    the server), and its condition and a Warning Event say how to release it; Orphan releases it."""
    await kube.create_secret("rotating-key", {"apiKey": VALID_KEY})
    await servers.create("LangGraphServer", "rotating",
                         {"url": auth_recorder.url, "apiKeySecretRef": {"name": "rotating-key", "key": "apiKey"}})
    async with operator():
        await kube.create(resource("made", serverRef={"name": "rotating"}))
        made = await kube.wait_for("made", is_ready)
        assert made["status"]["createSent"] is True
        await kube.patch_secret("rotating-key", {"apiKey": "sk-rotated-wrong"})
        await kube.delete("made")
        held = await kube.wait_for("made", lambda o: "cannot delete the cron yet" in condition(o)["message"], timeout=30)
        message = condition(held)["message"]
        assert "deletionPolicy: Orphan" in message and "API key of" in message
        async def release_event() -> bool:
            return any(e["type"] == "Warning" and "deletionPolicy: Orphan" in e["message"]
                       for e in await kube.events("made"))
        await wait_until(release_event, 10, "a Warning Event saying how to release it")
        await kube.patch("made", {"spec": {"deletionPolicy": "Orphan"}})
        await kube.wait_gone("made", timeout=90)
    async with make_http_client(timeout=10) as http:  # leave the auth server clean
        await AgentServerClient(http, auth_recorder.upstream, VALID_KEY).delete(made["status"]["cronId"])
