"""
Fixtures that run kopf operators against a Kubernetes API: kmock's emulator by default; a private
real control plane when KUBEBUILDER_ASSETS names a directory with etcd and kube-apiserver (and
optionally kube-controller-manager), the envtest convention; or an existing cluster when
LGCRON_TEST_KUBECONFIG points at its kubeconfig (it wins over KUBEBUILDER_ASSETS).

Tests see only a kubeconfig (exported as $KUBECONFIG for the operator under test) and a fresh
namespace, so the same tests run unchanged on both::

    async def test_something(kube: KubeTestApi, run_operator) -> None:
        async with run_operator("-m", "langgraph_cron.controller"):
            await kube.create({"metadata": {"name": "x"}, "spec": {...}})
            await kube.wait_for("x", lambda obj: obj["status"]["cronId"])

Tests are ``async def`` and wait with ``await asyncio.sleep``: kmock serves on the test's event loop.
"""
import asyncio
import contextlib
import json
import logging
import re
import secrets
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import kopf
import kubernetes
import pytest
from control_plane import ControlPlane
from install_helpers import ROOT, kubectl, service_account_kubeconfig
from kopf.testing import KopfRunner
from kube_emulator import KubeEmulator
from kube_test_api import (
    KUBEBUILDER_ASSETS,
    LGCRON_API_VERSION,
    LGCRON_KIND,
    LGCRON_PLURAL,
    OPERATOR_RBAC,
    REAL_CLUSTER,
    TEST_KUBECONFIG,
    KubeTestApi,
    api_path,
    ensure_crds,
)
from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client
from tcp_proxy import TcpProxy

CRD_MANIFESTS = [Path(__file__).resolve().parents[2] / "crds" / name
                 for name in ("langgraphcron.yaml", "langgraphserver.yaml", "clusterlanggraphserver.yaml")]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator_only: tests the kmock emulator itself; skipped on a real cluster")


def pytest_report_header(config: pytest.Config) -> str:
    if TEST_KUBECONFIG:
        return f"operator tests: the cluster in LGCRON_TEST_KUBECONFIG={TEST_KUBECONFIG}"
    if KUBEBUILDER_ASSETS:
        return f"operator tests: a private control plane from KUBEBUILDER_ASSETS={KUBEBUILDER_ASSETS}"
    return "operator tests: the kmock emulator (set KUBEBUILDER_ASSETS or LGCRON_TEST_KUBECONFIG for a real API)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REAL_CLUSTER:
        selected = f"{'LGCRON_TEST_KUBECONFIG' if TEST_KUBECONFIG else 'KUBEBUILDER_ASSETS'} selects a real Kubernetes API"
        for item in items:
            marker = item.get_closest_marker("emulator_only")
            if marker or {"kmock", "kube_emulator"} & set(getattr(item, "fixturenames", ())):
                why = (marker.kwargs.get("reason") if marker else None) or "it tests the kmock emulator itself"
                item.add_marker(pytest.mark.skip(reason=f"emulator only: {why}; {selected}"))


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    return {**kmock_options, "cls": KubeEmulator}


@pytest.fixture
def kube_emulator(kmock: KubeEmulator) -> KubeEmulator:
    # kopf lists namespaces, events and CRDs before it watches anything: serve all built-in resources.
    with warnings.catch_warnings(category=DeprecationWarning, action="ignore"):  # kmock's own importlib use
        kmock.resources.load_bundled()
    kmock.resources[f"{LGCRON_API_VERSION}/{LGCRON_PLURAL}"] = kmock.ResourceInfo(
        kind=LGCRON_KIND, singular="langgraphcron", shortnames={"lgcron", "lgc"}, namespaced=True,
        verbs={"create", "get", "list", "watch", "patch", "update", "delete"}, subresources={"status"})
    for plural, kind, short, namespaced in (("langgraphservers", "LangGraphServer", "lgs", True),
                                            ("clusterlanggraphservers", "ClusterLangGraphServer", "clgs", False)):
        kmock.resources[f"{LGCRON_API_VERSION}/{plural}"] = kmock.ResourceInfo(
            kind=kind, singular=kind.lower(), shortnames={short}, namespaced=namespaced,
            verbs={"create", "get", "list", "watch", "patch", "update", "delete"}, subresources={"status"})
    return kmock


@pytest.fixture(scope="session")
def real_cluster_kubeconfig() -> Iterator[Path]:
    """The real cluster's kubeconfig, with the CRDs created or updated once per session: the
    cluster named by LGCRON_TEST_KUBECONFIG, or a control plane of our own started from
    KUBEBUILDER_ASSETS for this session (stopped at its end, on failure and on Ctrl-C too)."""
    with contextlib.ExitStack() as stack:
        if TEST_KUBECONFIG:
            path = Path(TEST_KUBECONFIG).expanduser()
        else:
            control_plane = stack.enter_context(ControlPlane.from_assets(KUBEBUILDER_ASSETS))
            path = control_plane.kubeconfig
        _apply_crds(path)
        yield path


def _apply_crds(path: Path) -> None:
    api = KubeTestApi(path, namespace="default")
    try:
        for manifest in CRD_MANIFESTS:
            ensure_crds(api, manifest)
    finally:
        api.close()


@pytest.fixture
def kubeconfig_path(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if REAL_CLUSTER:
        path = request.getfixturevalue("real_cluster_kubeconfig")
    else:
        server = str(request.getfixturevalue("kube_emulator").url).rstrip("/")
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": server}}],
            "users": [{"name": "kmock", "user": {}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
        }))
    monkeypatch.setenv("KUBECONFIG", str(path))
    # The kubernetes library reads $KUBECONFIG once, at import; kopf's login and the operator's own
    # client call load_kube_config() without a path, so they would use the stale import-time value.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    return path


@pytest.fixture
async def namespace(kubeconfig_path: Path) -> AsyncIterator[str]:
    """A fresh namespace, deleted afterwards; on the emulator too, so both run the same code."""
    api = KubeTestApi(kubeconfig_path, f"lgcron-test-{secrets.token_hex(4)}")
    await api.call("POST", api_path("v1", "namespaces"), {"metadata": {"name": api.namespace}})
    try:
        yield api.namespace
    finally:
        # With no operator left to remove its finalizers, leftovers would block the namespace's deletion forever.
        for obj in await api.list():
            with contextlib.suppress(kubernetes.client.ApiException):  # 404: deleted meanwhile
                await api.patch(obj["metadata"]["name"], {"metadata": {"finalizers": None}})
        await api.call("DELETE", api_path("v1", "namespaces", name=api.namespace))
        api.close()


@pytest.fixture
def kube(kubeconfig_path: Path, namespace: str) -> Iterator[KubeTestApi]:
    api = KubeTestApi(kubeconfig_path, namespace)
    yield api
    api.close()


@pytest.fixture
def run_operator(kube: KubeTestApi) -> Callable[..., contextlib.AbstractAsyncContextManager[KopfRunner]]:
    """
    ``async with run_operator(*kopf_run_args, registry=None, **runner_kwargs) as runner:``

    Runs ``kopf run --standalone --namespace <kube.namespace> *kopf_run_args`` in a thread.
    Handlers come from modules/files in the args (``"-m", "langgraph_cron.controller"``) or from
    an explicit ``registry``. The operator is stopped without blocking the event loop,
    which kmock needs to keep serving it until it is gone. While it runs, KopfRunner (click)
    captures this process's stdout: print after the ``async with``.
    """
    @contextlib.asynccontextmanager
    async def run(*args: str, registry: kopf.OperatorRegistry | None = None, timeout: float = 60,
                  **runner_kwargs: Any) -> AsyncIterator[KopfRunner]:
        default_registry = kopf.get_default_registry()  # kopf makes an explicit registry the default for good
        runner = KopfRunner(["run", "--standalone", "--namespace", kube.namespace, *args],
                            registry=registry, timeout=timeout, **runner_kwargs)
        runner.__enter__()
        try:
            yield runner
        except BaseException:
            await asyncio.to_thread(runner.__exit__, *sys.exc_info())
            raise
        else:
            await asyncio.to_thread(runner.__exit__, None, None, None)
        finally:
            kopf.set_default_registry(default_registry)
    return run


# ---------------------------------------------------------------- the shipped operator and its server


@pytest.fixture
async def server(agent_server) -> AsyncIterator[AgentServerClient]:
    """A direct client to the Agent Server, for the test's own observations."""
    async with make_http_client(timeout=10) as http:
        yield AgentServerClient(http, agent_server.url)


@pytest.fixture
async def proxy(agent_server) -> AsyncIterator[TcpProxy]:
    tcp_proxy = await TcpProxy.started_for(agent_server.url)
    yield tcp_proxy
    await tcp_proxy.close()


# Every operator test runs with this API key (the in-memory server accepts any key), read from
# a Secret like in production; the `operator` fixture then proves it leaked nowhere.
SENTINEL_API_KEY = "sk-lgcron-sentinel-4f1d9c2e7a"
SENTINEL_SECRET = "lgcron-default-api-key"


# The ServiceAccount kubeconfig of each cluster the tests use (the session's, or a test's own control plane).
_OPERATOR_KUBECONFIGS: dict[str, Path] = {}


def operator_kubeconfig(admin_kubeconfig: Path, directory: Path) -> Path:
    """With OPERATOR_RBAC: a kubeconfig of the manifests' ServiceAccount on this cluster, with the namespace,
    ServiceAccount and RBAC applied as shipped; a verb they lack then fails the test that needs it."""
    if str(admin_kubeconfig) in _OPERATOR_KUBECONFIGS:
        return _OPERATOR_KUBECONFIGS[str(admin_kubeconfig)]
    for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):  # kustomize's namespace: lgcron-system
        kubectl(admin_kubeconfig, "apply", "-n", "lgcron-system", "-f", str(ROOT / "manifests" / name))
    path = service_account_kubeconfig(admin_kubeconfig, "lgcron-system", "langgraph-cron-operator",
                                      directory / "operator-kubeconfig")
    _OPERATOR_KUBECONFIGS[str(admin_kubeconfig)] = path
    return path


@contextlib.contextmanager
def operator_credentials(request: pytest.FixtureRequest) -> Iterator[None]:
    """With OPERATOR_RBAC: KUBECONFIG names the ServiceAccount's while the operator runs (kopf's login and
    the operator's own client read it), and the admin's again afterwards; `lgcron` run by the test
    meanwhile gets the admin's (operator_helpers.lgcron)."""
    if not OPERATOR_RBAC:
        yield
        return
    admin = Path(request.getfixturevalue("kubeconfig_path"))
    path = str(operator_kubeconfig(admin, Path(request.getfixturevalue("tmp_path_factory").mktemp("operator-rbac"))))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LGCRON_TEST_ADMIN_KUBECONFIG", str(admin))
        patch.setenv("KUBECONFIG", path)
        patch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path)
        yield


@pytest.fixture
async def operator(run_operator, proxy, monkeypatch, kube, caplog, request):
    """`async with operator():` runs the shipped operator, pointed at the proxied Agent Server.

    At teardown it asserts that the sentinel API key appears in no log line, Event or status.
    """
    monkeypatch.setenv("LGCRON_SERVER_URL", proxy.url)
    monkeypatch.setenv("LGCRON_RESYNC_INTERVAL", "2")
    monkeypatch.setenv("LGCRON_REQUEST_TIMEOUT", "5")
    monkeypatch.delenv("LGCRON_API_KEY", raising=False)
    monkeypatch.setenv("LGCRON_API_KEY_SECRET", f"{SENTINEL_SECRET}:apiKey")
    await kube.create_secret(SENTINEL_SECRET, {"apiKey": SENTINEL_API_KEY})
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[Any]:
        with operator_credentials(request):
            async with run_operator("-m", "langgraph_cron.controller") as runner:
                yield runner
        outputs.append(runner.output)

    yield running
    if OPERATOR_RBAC:
        lines = [line for text in [*outputs, caplog.text] for line in text.splitlines()]
        refused = [line for line in lines if "forbidden" in line.lower() or re.search(r'HTTP 403|" 403 ', line)]
        assert not refused, f"the operator met a 403 with the shipped RBAC: {refused[:3]}"

    written = [*outputs, caplog.text, json.dumps(await kube.list()),
               json.dumps(await kube.call("GET", api_path("v1", "events", kube.namespace)))]
    assert not [text for text in written if SENTINEL_API_KEY in text], "the API key leaked into logs, Events or status"


@pytest.fixture
async def watched_server(agent_server) -> AsyncIterator[TcpProxy]:
    """A second proxy to the same server, used only by the resource under test: its connection
    count is exactly the number of connections that resource caused."""
    watched = await TcpProxy.started_for(agent_server.url)
    yield watched
    await watched.close()
