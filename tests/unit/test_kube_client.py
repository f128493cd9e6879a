"""The operator's own Kubernetes client (kube.py) against a tiny local HTTP server: errors, Secrets, re-login."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator

import aiohttp.web
import kopf
import pytest
from langgraph_cron.clients.kube import KubeClient, KubernetesApiError, SecretNotFound

SECRET_VALUE = "sk-kube-client-test-value"
NAMESPACES = {"team": {"tier": "paid"}}


class FakeApiserver:
    """Serves one Secret to token 'good'; 401 to any other token; 404 elsewhere."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Authorization)
        self.list_namespaces_forbidden = False
        self.app = aiohttp.web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        auth = request.headers.get("Authorization", "")
        self.requests.append((request.method, request.path, auth))
        if auth != "Bearer good":
            return aiohttp.web.json_response({"message": "Unauthorized"}, status=401)
        if request.path == "/api/v1/namespaces/team/secrets/key":
            return aiohttp.web.json_response({"data": {"apiKey": base64.b64encode(SECRET_VALUE.encode()).decode()}})
        if request.path == "/api/v1/namespaces/team/secrets/forbidden":
            return aiohttp.web.json_response({"message": "secrets is forbidden"}, status=403)
        if request.path == "/api/v1/namespaces":  # list: granted to the operator, refused to a "person"
            if self.list_namespaces_forbidden:
                return aiohttp.web.json_response({"message": "namespaces is forbidden"}, status=403)
            name = request.query.get("fieldSelector", "").removeprefix("metadata.name=")
            items = [{"metadata": {"name": n, "labels": labels}} for n, labels in NAMESPACES.items() if n == name]
            return aiohttp.web.json_response({"items": items})
        if request.path.startswith("/api/v1/namespaces/") and request.path.count("/") == 4:
            name = request.path.rsplit("/", 1)[1]
            if name in NAMESPACES:
                return aiohttp.web.json_response({"metadata": {"name": name, "labels": NAMESPACES[name]}})
        if request.path.startswith("/apis/batch/v1/namespaces/team/cronjobs") and request.method == "POST":
            return aiohttp.web.json_response({"message": "spec.timeZone: Invalid value"}, status=422)
        return aiohttp.web.json_response({"message": "not found"}, status=404)


@pytest.fixture
async def apiserver() -> AsyncIterator[tuple[FakeApiserver, str]]:
    fake = FakeApiserver()
    runner = aiohttp.web.AppRunner(fake.app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def logins(server: str, *tokens: str):
    """A login function handing out the given tokens in turn (then the last one again)."""
    handed: list[str] = []

    def login() -> kopf.ConnectionInfo:
        token = tokens[min(len(handed), len(tokens) - 1)]
        handed.append(token)
        return kopf.ConnectionInfo(server=server, token=token)

    return login, handed


async def test_reads_a_secret_and_says_what_is_missing_without_any_value(apiserver) -> None:
    _, url = apiserver
    login, _ = logins(url, "good")
    async with KubeClient(login) as kube:
        assert await kube.read_secret_value("team", "key", "apiKey") == SECRET_VALUE
        with pytest.raises(SecretNotFound, match="has no key 'other'") as missing_key:
            await kube.read_secret_value("team", "key", "other")
        with pytest.raises(SecretNotFound, match="team/absent not found"):
            await kube.read_secret_value("team", "absent", "apiKey")
        with pytest.raises(SecretNotFound, match="forbidden"):
            await kube.read_secret_value("team", "forbidden", "apiKey")
        assert SECRET_VALUE not in str(missing_key.value)


async def test_404_is_none_and_422_is_a_permanent_rejection(apiserver) -> None:
    _, url = apiserver
    async with KubeClient(logins(url, "good")[0]) as kube:
        assert await kube.get_langgraphcron("team", "gone") is None
        await kube.patch_status("team", "gone", {"observedGeneration": 1})  # deleted meanwhile: no error
        with pytest.raises(KubernetesApiError) as rejected:
            await kube.create_cronjob({"metadata": {"namespace": "team", "name": "x"}})
        assert rejected.value.permanent and rejected.value.reason == "KubernetesRejected"
        assert "HTTP 422: spec.timeZone: Invalid value" in str(rejected.value)


async def test_a_401_logs_in_again_once_and_retries(apiserver) -> None:
    fake, url = apiserver
    login, handed = logins(url, "expired", "good")  # e.g. a service-account token rotated on disk
    async with KubeClient(login) as kube:
        assert await kube.read_secret_value("team", "key", "apiKey") == SECRET_VALUE
        assert handed == ["expired", "good"]
        assert [auth for *_, auth in fake.requests] == ["Bearer expired", "Bearer good"]


async def test_credentials_that_stay_wrong_fail_after_one_retry(apiserver) -> None:
    fake, url = apiserver
    async with KubeClient(logins(url, "wrong")[0]) as kube:
        with pytest.raises(KubernetesApiError, match="HTTP 401") as failed:
            await kube.get_langgraphcron("team", "x")
        assert not failed.value.permanent and len(fake.requests) == 2


async def test_an_unreachable_api_is_a_retryable_error_with_no_response() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with KubeClient(logins(f"http://127.0.0.1:{port}", "good")[0], timeout=5) as kube:
        with pytest.raises(KubernetesApiError, match="no response") as failed:
            await kube.get_cronjob("team", "x")
        assert failed.value.status == 0 and not failed.value.permanent
        with pytest.raises(SecretNotFound, match="did not answer"):
            await kube.read_secret_value("team", "key", "apiKey")


async def test_namespace_labels_by_a_list_and_by_a_get_where_the_list_is_refused(apiserver) -> None:
    """The operator's RBAC has list on namespaces, not get (a ClusterLangGraphServer's namespaceSelector)."""
    fake, url = apiserver
    login, _ = logins(url, "good")
    async with KubeClient(login) as kube:
        assert await kube.namespace_labels("team") == {"tier": "paid"}
        assert await kube.namespace_labels("absent") is None
        assert [(m, p) for m, p, _ in fake.requests] == [("GET", "/api/v1/namespaces")] * 2
        fake.list_namespaces_forbidden = True
        assert await kube.namespace_labels("team") == {"tier": "paid"}
        assert await kube.namespace_labels("absent") is None
        assert [p for _, p, _ in fake.requests[2:]] == ["/api/v1/namespaces", "/api/v1/namespaces/team",
                                                       "/api/v1/namespaces", "/api/v1/namespaces/absent"]
