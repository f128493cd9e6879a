"""Uninstall as the README documents it, on a private control plane of the test's own: install (the CRDs
on their own, then the operator), 20 crons on two Agent Servers, then `lgcron uninstall --crds` while the
operator runs. After it: no cron of this cluster on either server, nothing Terminating, the CRDs, the
ValidatingWebhookConfiguration and the webhook's TLS Secret gone.

And the failure the issue describes, made recoverable: the CRDs deleted under live crons (the operator
stopped, finalizers removed by hand) leave crons firing on the server; with the CRDs applied again,
`lgcron audit --delete` deletes them."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import kubernetes
import pytest
from install_helpers import (
    CRD_NAMES,
    ROOT,
    apply_crds,
    exists,
    kubectl,
    own_control_plane_kubeconfig,
    requires_private_control_plane,
)
from kube_test_api import LGCRON_API_VERSION, api_path
from langgraph_cron.clients.agent_server import AgentServerClient, make_http_client
from langgraph_cron.clients.devserver import free_port
from operator_helpers import is_ready, lgcron, resource, wait_until

from tests.graphs.auth import VALID_KEY

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180), requires_private_control_plane]

CLUSTER_KEY = "lgcron.io/cluster"
WEBHOOK_CONFIGURATION = "validation.lgcron.io"  # the defaults, as an install has them
OPERATOR_NAMESPACE = "lgcron-system"
TLS_SECRET = "lgcron-webhook-tls"


@pytest.fixture
def kubeconfig_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with own_control_plane_kubeconfig(monkeypatch) as path:
        yield path


@pytest.fixture
async def second_server(auth_server) -> AsyncIterator[AgentServerClient]:
    """The second Agent Server (it wants an x-api-key), for the test's own observations."""
    async with make_http_client(timeout=10) as http:
        yield AgentServerClient(http, auth_server.url, VALID_KEY)


@pytest.fixture
def webhook(kube, monkeypatch, kubeconfig_path) -> None:
    """The install's second step, `kubectl apply -k manifests/` (its Deployment never runs here: no kubelet;
    the operator under test runs in-process instead), and the operator's admission webhook on loopback with
    the install's default names: the operator creates the configuration and the TLS Secret at run time."""
    kubectl(kubeconfig_path, "apply", "-k", str(ROOT / "manifests"))
    for name, value in {"LGCRON_WEBHOOK_HOST": "127.0.0.1", "LGCRON_WEBHOOK_PORT": str(free_port()),
                        "LGCRON_WEBHOOK_TLS_SECRET": f"{OPERATOR_NAMESPACE}/{TLS_SECRET}",
                        "LGCRON_WEBHOOK_NAMESPACES": kube.namespace}.items():
        monkeypatch.setenv(name, value)


async def _cluster_id(kube) -> str:
    return (await kube.call("GET", api_path("v1", "namespaces", name="kube-system")))["metadata"]["uid"]


async def _mine(client: AgentServerClient, cluster: str) -> list:
    return [c for c in await client.search_all(metadata={CLUSTER_KEY: cluster})
            if (c.metadata or {}).get(CLUSTER_KEY) == cluster]


async def _install_twenty_crons(kube, auth_server) -> list[dict]:
    """10 crons on the operator's default server, 10 through a LangGraphServer naming the second one."""
    await kube.create_secret("second-key", {"apiKey": VALID_KEY})
    await kube.call("POST", api_path(LGCRON_API_VERSION, "langgraphservers", kube.namespace), {
        "apiVersion": LGCRON_API_VERSION, "kind": "LangGraphServer", "metadata": {"name": "second"},
        "spec": {"url": auth_server.url, "apiKeySecretRef": {"name": "second-key", "key": "apiKey"}}})
    names = []
    for i in range(20):
        extra = {"serverRef": {"name": "second"}} if i % 2 else {}
        names.append((await kube.create(resource(f"cron-{i:02d}", **extra)))["metadata"]["name"])
    return [await kube.wait_for(name, is_ready, timeout=60) for name in names]


async def test_uninstall_as_documented_leaves_nothing(kube, operator, webhook, server, second_server, auth_server,
                                                      kubeconfig_path):
    cluster = await _cluster_id(kube)
    async with operator():
        await _install_twenty_crons(kube, auth_server)
        assert len(await _mine(server, cluster)) == 10 and len(await _mine(second_server, cluster)) == 10
        configuration = api_path("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations",
                                 name=WEBHOOK_CONFIGURATION)
        secret = api_path("v1", "secrets", OPERATOR_NAMESPACE, TLS_SECRET)
        assert await exists(kube, configuration) and await exists(kube, secret)

        # The README's Uninstall, step 1, while the operator runs: it deletes the crons (finalizers).
        code, out, err = await lgcron("uninstall", "--crds", "--timeout", "60", timeout=120)
        assert code == 0, out + err
        assert "deleted 20 LangGraphCrons" in out, out
        assert out.count(": 0 crons of the deleted LangGraphCrons left") == 2, out  # both servers were asked
        for name in CRD_NAMES:
            assert f"CustomResourceDefinition {name}: deleted" in out, out
        assert f"ValidatingWebhookConfiguration {WEBHOOK_CONFIGURATION}: deleted" in out, out

    # Step 2: the operator (here it ran in-process, and has stopped; the Deployment goes too).
    kubectl(kubeconfig_path, "delete", "-k", str(ROOT / "manifests"), "--wait=true", "--timeout=60s")
    assert await _mine(server, cluster) == [] and await _mine(second_server, cluster) == []
    assert not await exists(kube, api_path("v1", "namespaces", name=OPERATOR_NAMESPACE))  # nothing Terminating
    for name in CRD_NAMES:
        assert not await exists(kube, api_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=name))
    assert not await exists(kube, configuration) and not await exists(kube, secret)
    apply_crds(kubeconfig_path)  # for the namespace fixture's own teardown, which lists LangGraphCrons


async def test_uninstall_refuses_crds_while_crons_are_held(kube, operator, server, kubeconfig_path):
    """Without a running operator nothing can remove the finalizers: uninstall says so, keeps the CRDs,
    exits 1, and a second run with the operator up finishes the job."""
    cluster = await _cluster_id(kube)
    async with operator():
        for i in range(3):
            await kube.create(resource(f"held-{i}"))
        for i in range(3):
            await kube.wait_for(f"held-{i}", is_ready, timeout=60)
    code, out, err = await lgcron("uninstall", "--crds", "--timeout", "3", "--keep-webhook")
    assert code == 1, out + err
    assert "is still Terminating" in err and "Is the operator running" in err, err
    assert "CustomResourceDefinition" not in out, out
    for name in CRD_NAMES:  # kept: deleting them now would strand the crons
        assert await exists(kube, api_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=name))
    assert len(await _mine(server, cluster)) == 3
    async with operator():
        code, out, err = await lgcron("uninstall", "--crds", "--timeout", "60", "--keep-webhook", timeout=120)
        assert code == 0, out + err
    assert await _mine(server, cluster) == []
    apply_crds(kubeconfig_path)


async def test_crds_deleted_anyway_is_recoverable_with_audit(kube, operator, server, proxy, kubeconfig_path,
                                                             monkeypatch):
    """The issue's failure: the operator stopped, the CRDs deleted, the finalizers removed by hand. The
    crons keep firing; `lgcron audit` lists them, and with the CRDs applied again `--delete` cleans up."""
    cluster = await _cluster_id(kube)
    async with operator():
        for i in range(4):
            await kube.create(resource(f"stranded-{i}"))
        for i in range(4):
            await kube.wait_for(f"stranded-{i}", is_ready, timeout=60)
    kubectl(kubeconfig_path, "delete", "-k", str(ROOT / "crds"), "--wait=false")
    for i in range(4):  # what users do to get out: remove the finalizers by hand
        with contextlib.suppress(kubernetes.client.ApiException):
            await kube.patch(f"stranded-{i}", {"metadata": {"finalizers": None}})

    async def crds_gone() -> bool:
        return not any([await exists(kube, api_path("apiextensions.k8s.io/v1", "customresourcedefinitions",
                                                     name=name)) for name in CRD_NAMES])

    await wait_until(crds_gone, timeout=30, what="the CRDs to be deleted")
    assert len(await _mine(server, cluster)) == 4  # stranded: they still fire
    monkeypatch.setenv("LGCRON_API_KEY", "sk-any-" + secrets.token_hex(4))
    code, out, err = await lgcron("audit", "--server", proxy.url)
    assert code == 1 and "4 orphaned crons" in out, out + err  # no CRDs: no LangGraphCron, so every cron is an orphan

    apply_crds(kubeconfig_path)
    code, out, err = await lgcron("audit", "--server", proxy.url, "--delete")
    assert code == 0, out + err
    assert "deleted 4 of 4 orphaned crons" in out, out
    assert await _mine(server, cluster) == []
    code, out, err = await lgcron("uninstall")  # and the rest of the uninstall finds nothing left
    assert code == 0, out + err
