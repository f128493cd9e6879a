"""The Helm path end to end, on a private control plane of the test's own: the chart rendered as
`helm install lgcron charts/langgraph-cron-operator -n lgcron-system --create-namespace --set server.url=...`
would (helm-python-sdk, Helm's own engine; there is no helm binary), its objects applied (the CRDs first),
the operator run as the stored Deployment says (its command, args and env, as its ServiceAccount: there is
no kubelet, so a process of the test's stands in for the Pod), crons Ready on the in-memory Agent Server;
an upgrade (a changed value, the Deployment recreated); then the README's uninstall for Helm users:
`lgcron uninstall --crds --webhook-tls-secret ...` while the operator runs, then what `helm uninstall`
deletes (the release's objects minus those kept by `helm.sh/resource-policy: keep`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import helm_python as helm  # helm-python-sdk, in the test extra
import pytest
import yaml
from install_helpers import (
    CRD_NAMES,
    ROOT,
    exists,
    kubectl,
    own_control_plane_kubeconfig,
    requires_private_control_plane,
    service_account_kubeconfig,
)
from kube_test_api import LGCRON_API_VERSION, KubeTestApi, api_path
from langgraph_cron.clients.agent_server import AgentServerClient
from langgraph_cron.clients.devserver import free_port
from operator_helpers import is_ready, lgcron, lgcron_command, resource, wait_until

pytestmark = [pytest.mark.operator, pytest.mark.timeout(180), requires_private_control_plane]

CHART = ROOT / "charts" / "langgraph-cron-operator"
RELEASE, RELEASE_NAMESPACE = "lgcron", "lgcron-system"
CLUSTER_KEY = "lgcron.io/cluster"
KEEP = "helm.sh/resource-policy"
CRONS = 6
SELECTED = {"agents.example.com/tier": "selected"}
# Helm's InstallOrder (pkg/release/util/kind_sorter.go) for the kinds this chart renders; uninstall is its reverse.
INSTALL_ORDER = ["Namespace", "ServiceAccount", "Secret", "CustomResourceDefinition", "ClusterRole",
                 "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment"]


@pytest.fixture
def kubeconfig_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with own_control_plane_kubeconfig(monkeypatch, crds=None) as path:  # fresh: the chart brings the CRDs
        yield path


def render(server_url: str, *, upgrade: bool = False, **values) -> list[dict]:
    """The release's manifest, in Helm's install order."""
    values = {"server": {"url": server_url}, **values}
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name=RELEASE, namespace=RELEASE_NAMESPACE, revision=2 if upgrade else 1,
                           is_install=not upgrade, is_upgrade=upgrade)
    docs = [doc for path, text in sorted(out.items()) if path.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]
    unknown = {d["kind"] for d in docs} - set(INSTALL_ORDER)
    assert not unknown, f"kinds this test does not order yet: {unknown}"
    return sorted(docs, key=lambda d: INSTALL_ORDER.index(d["kind"]))


def apply_release(kubeconfig: Path, docs: list[dict]) -> None:
    """`helm install`/`helm upgrade` with --create-namespace: the CRDs first (Established), then the rest."""
    kubectl(kubeconfig, "create", "namespace", RELEASE_NAMESPACE, check=False)  # exists from the install on
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(crds))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in CRD_NAMES])
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all([d for d in docs if d not in crds]))


def helm_uninstall_set(docs: list[dict]) -> list[dict]:
    """What `helm uninstall` deletes: the release's objects, minus the kept ones, in reverse install order."""
    return [d for d in reversed(docs) if (d["metadata"].get("annotations") or {}).get(KEEP) != "keep"]


class Pod:
    """The stored Deployment's container as a process: its command and args, its env (fieldRefs resolved as
    the kubelet would), the ServiceAccount's token. Two substitutions, as there is no kubelet and the
    apiserver runs outside any cluster network: the webhook at LGCRON_WEBHOOK_HOST=127.0.0.1 instead of
    its Service (as the other tests serve it), and loopback ports of this run for liveness and webhook."""

    def __init__(self, deployment: dict, kubeconfig: Path, log: Path) -> None:
        pod_spec = deployment["spec"]["template"]["spec"]
        [container] = pod_spec["containers"]
        self.name = f"{deployment['metadata']['name']}-{secrets.token_hex(3)}"
        fields = {"metadata.name": self.name, "metadata.namespace": deployment["metadata"]["namespace"]}
        env = {k: v for k, v in os.environ.items() if not k.startswith("LGCRON_")}
        env.update(KUBECONFIG=str(kubeconfig), HOME=str(log.parent))
        for var in container["env"]:
            if "value" in var:
                env[var["name"]] = var["value"]
            else:
                env[var["name"]] = fields[var["valueFrom"]["fieldRef"]["fieldPath"]]
        self.env = dict(env)
        assert env.pop("LGCRON_WEBHOOK_SERVICE") == f"{RELEASE_NAMESPACE}/{deployment['metadata']['name']}-webhook"
        env.update(LGCRON_WEBHOOK_HOST="127.0.0.1", LGCRON_WEBHOOK_PORT=str(free_port()))
        self.liveness = free_port()
        args = [f"--liveness=http://127.0.0.1:{self.liveness}/healthz" if a.startswith("--liveness=") else a
                for a in container["args"]]
        assert container["command"] == ["lgcron"]
        self.argv = [*lgcron_command(), *args]
        self.log = log
        self.process: subprocess.Popen | None = None
        self._env = env

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self._env, stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    async def stop(self) -> None:
        """The kubelet's SIGTERM; a Recreate rollout waits for the old Pod to be gone."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            for _ in range(150):
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                self.process.kill()
                self.process.wait()
        self.process = None


def _path(doc: dict) -> str:
    group_version, kind = doc["apiVersion"], doc["kind"]
    plural = {"ServiceAccount": "serviceaccounts", "CustomResourceDefinition": "customresourcedefinitions",
              "ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "Role": "roles",
              "RoleBinding": "rolebindings", "Service": "services", "Deployment": "deployments"}[kind]
    return api_path(group_version, plural, doc["metadata"].get("namespace"), doc["metadata"]["name"])


async def _mine(server: AgentServerClient, cluster: str) -> list:
    return [c for c in await server.search_all(metadata={CLUSTER_KEY: cluster})
            if (c.metadata or {}).get(CLUSTER_KEY) == cluster]


@pytest.fixture
async def tenant(kubeconfig_path: Path) -> AsyncIterator[KubeTestApi]:
    """A namespace for the crons (the control plane goes with the test: no clean-up needed)."""
    api = KubeTestApi(kubeconfig_path, f"helm-path-{secrets.token_hex(3)}")
    await api.call("POST", api_path("v1", "namespaces"), {"metadata": {"name": api.namespace}})
    yield api
    api.close()


@contextlib.asynccontextmanager
async def running(pod: Pod) -> AsyncIterator[Pod]:
    pod.start()
    try:
        yield pod
    finally:
        await pod.stop()


async def _deployment(kube: KubeTestApi, name: str) -> dict:
    return await kube.call("GET", api_path("apps/v1", "deployments", RELEASE_NAMESPACE, name))


async def _until_webhook_refuses(kubeconfig: Path, namespace: str) -> None:
    """A schedule the CRD's schema admits and the webhook refuses: the operator's webhook answers."""
    probe = yaml.safe_dump({"apiVersion": LGCRON_API_VERSION, "kind": "LangGraphCron",
                            "metadata": {"name": "probe", "namespace": namespace},
                            "spec": {"schedule": "61 7 * * *", "assistantId": "agent"}})

    async def refused() -> bool:
        result = await asyncio.to_thread(subprocess.run, ["kubectl", "--kubeconfig", str(kubeconfig), "apply",
                                         "--dry-run=server", "-f", "-"], input=probe, capture_output=True,
                                         text=True, timeout=30)
        return result.returncode != 0 and "denied the request" in result.stderr

    await wait_until(refused, timeout=30, what="the webhook's first refusal")


async def test_helm_install_upgrade_uninstall(kubeconfig_path, tenant, agent_server, server, tmp_path, monkeypatch):
    kube, log = tenant, tmp_path / "operator.log"
    try:
        await _helm_path(kubeconfig_path, kube, agent_server, server, tmp_path, log, monkeypatch)
    except BaseException:
        print(log.read_text() if log.exists() else "(no operator log)")
        raise


async def _helm_path(kubeconfig_path, kube, agent_server, server, tmp_path, log, monkeypatch):
    cluster = (await kube.call("GET", api_path("v1", "namespaces", name="kube-system")))["metadata"]["uid"]
    crd_paths = [api_path("apiextensions.k8s.io/v1", "customresourcedefinitions", name=n) for n in CRD_NAMES]

    # helm install lgcron charts/langgraph-cron-operator -n lgcron-system --create-namespace --set server.url=...
    installed = render(agent_server.url)
    [deployment_doc] = [d for d in installed if d["kind"] == "Deployment"]
    fullname = deployment_doc["metadata"]["name"]
    assert {d["metadata"]["name"] for d in installed if d["kind"] == "CustomResourceDefinition"} == set(CRD_NAMES)
    apply_release(kubeconfig_path, installed)
    pod_kubeconfig = service_account_kubeconfig(kubeconfig_path, RELEASE_NAMESPACE, deployment_doc["spec"][
        "template"]["spec"]["serviceAccountName"], tmp_path / "pod-kubeconfig")

    pod = Pod(await _deployment(kube, fullname), pod_kubeconfig, log)
    tls_secret = pod.env["LGCRON_WEBHOOK_TLS_SECRET"]
    webhook_configuration = api_path("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations",
                                     name=pod.env["LGCRON_WEBHOOK_CONFIGURATION"])
    # The README tells Helm users which Secret to pass to `lgcron uninstall --webhook-tls-secret`: this one.
    assert tls_secret == f"{RELEASE_NAMESPACE}/{fullname}-webhook-tls"
    assert "`--webhook-tls-secret <release namespace>/<fullname>-webhook-tls`" in (ROOT / "README.md").read_text()
    tls_namespace, _, tls_name = tls_secret.partition("/")
    tls_path = api_path("v1", "secrets", tls_namespace, tls_name)
    names = [f"cron-{i}" for i in range(CRONS - 1)] + ["selected"]
    # A ClusterLangGraphServer that lets namespaces in by label: its crons need the namespace's labels,
    # which the webhook and the operator read with the chart's RBAC (list on namespaces; no get).
    await kube.call("PATCH", api_path("v1", "namespaces", name=kube.namespace),
                    {"metadata": {"labels": SELECTED}}, content_type="application/merge-patch+json")
    await kube.call("POST", api_path(LGCRON_API_VERSION, "clusterlanggraphservers"), {
        "apiVersion": LGCRON_API_VERSION, "kind": "ClusterLangGraphServer", "metadata": {"name": "by-label"},
        "spec": {"url": agent_server.url, "conditions": [{"namespaceSelector": {"matchLabels": SELECTED}}]}})
    async with running(pod):
        await _until_webhook_refuses(kubeconfig_path, kube.namespace)
        for name in names[:-1]:
            await kube.create(resource(name))
        selected = yaml.safe_dump({"apiVersion": LGCRON_API_VERSION, "kind": "LangGraphCron",
                                   "metadata": {"name": "selected", "namespace": kube.namespace},
                                   "spec": resource("selected", serverRef={"kind": "ClusterLangGraphServer",
                                                                           "name": "by-label"})["spec"]})
        kubectl(kubeconfig_path, "apply", "-f", "-", stdin=selected)  # the webhook admits it
        before = {n: (await kube.wait_for(n, is_ready, timeout=40))["status"]["cronId"] for n in names}
        assert len(await _mine(server, cluster)) == CRONS
        assert await exists(kube, webhook_configuration) and await exists(kube, tls_path)

    # helm upgrade lgcron ... --reuse-values --set resyncInterval=60: the Deployment changes; Recreate.
    assert pod.env["LGCRON_RESYNC_INTERVAL"] == "300"
    upgraded = render(agent_server.url, upgrade=True, resyncInterval=60)
    apply_release(kubeconfig_path, upgraded)
    pod = Pod(await _deployment(kube, fullname), pod_kubeconfig, log)
    assert pod.env["LGCRON_RESYNC_INTERVAL"] == "60"  # the stored Deployment carries the new value
    async with running(pod):
        await _until_webhook_refuses(kubeconfig_path, kube.namespace)
        after = {n: (await kube.wait_for(n, is_ready, timeout=40))["status"]["cronId"] for n in names}
        assert after == before  # the same cron for each LangGraphCron: none recreated
        mine = await _mine(server, cluster)
        assert sorted(c.cron_id for c in mine) == sorted(before.values())  # and none duplicated
        for path in crd_paths:  # kept through the upgrade
            assert await exists(kube, path)

        # The README's Uninstall for Helm users, step 1, while the operator runs.
        monkeypatch.setenv("LGCRON_SERVER_URL", agent_server.url)  # "for crons of the operator's default server"
        monkeypatch.delenv("LGCRON_API_KEY", raising=False)
        code, out, err = await lgcron("uninstall", "--crds", "--webhook-tls-secret", tls_secret,
                                      "--timeout", "30", timeout=90)
        assert code == 0, out + err
        assert f"deleted {CRONS} LangGraphCrons" in out, out
        assert ": 0 crons of the deleted LangGraphCrons left" in out, out
        for name in CRD_NAMES:
            assert f"CustomResourceDefinition {name}: deleted" in out, out

    # Step 2, `helm uninstall lgcron -n lgcron-system`: the Pod is gone (above), then the release's objects.
    deleted = helm_uninstall_set(upgraded)
    assert not [d for d in deleted if d["kind"] == "CustomResourceDefinition"]  # kept: only step 1 deletes them
    kubectl(kubeconfig_path, "delete", "-f", "-", "--wait=true", "--timeout=60s", stdin=yaml.safe_dump_all(deleted))

    assert await _mine(server, cluster) == []
    for doc in upgraded:
        assert not await exists(kube, _path(doc)), doc["metadata"]["name"]
    assert not await exists(kube, webhook_configuration)
    assert not await exists(kube, tls_path), f"the webhook's TLS Secret {tls_secret} is left"
    assert not (await kube.call("GET", api_path("admissionregistration.k8s.io/v1",
                                                "validatingwebhookconfigurations")))["items"]
    assert not (await kube.call("GET", api_path("v1", "secrets", RELEASE_NAMESPACE)))["items"]
    terminating = [ns["metadata"]["name"] for ns in (await kube.call("GET", api_path("v1", "namespaces")))["items"]
                   if ns["metadata"].get("deletionTimestamp")]
    assert not terminating, terminating
    forbidden = [line for line in log.read_text().splitlines() if "Forbidden" in line or " 403" in line]
    assert not forbidden, forbidden  # the chart's RBAC is all the operator needed
