"""The container image, built from the Dockerfile as it is and run as manifests/deployment.yaml runs it,
against a private control plane (KUBEBUILDER_ASSETS) and the real in-memory Agent Server.

`bash scripts/image` is the one place that knows podman's quirks on these machines (runc, pinned
ulimits, host networking, the host's CA for pip, a debootstrapped stand-in for the FROM image); this
test builds with it and runs every container through it. There is no kubelet, so the test plays one:

* the operator's container gets the Deployment's command, args, env (fieldRef and secretKeyRef
  resolved), securityContext (read-only root, non-root user, all capabilities dropped, no privilege
  escalation) and its one volume (/tmp, an emptyDir: a tmpfs here), plus what a Pod always has: a
  ServiceAccount token (`kubectl create token` for the manifests' ServiceAccount, bound by the manifests'
  RBAC) with the CA and namespace at /var/run/secrets/kubernetes.io/serviceaccount, and
  KUBERNETES_SERVICE_HOST/PORT naming the apiserver. Host networking: the apiserver and the Agent Server
  listen on loopback, and the container cannot resolve kubernetes.default.svc;
* the liveness port of the Deployment's args is swapped for a free one (the host's ports are shared);
* the Job a cronJob trigger creates is run the same way, from its Pod template, in the same image;
* PYTHONPROFILEIMPORTTIME=1 is the one addition: it lists what the Pod really imports, to check that
  the image holds no library the Pod never imports.

Skipped where podman, kubectl or KUBEBUILDER_ASSETS are missing; with LGCRON_IMAGE_TEST=required (what
.ci/run sets) each of those is a failure instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.packaging.conftest import Apiserver

pytestmark = [pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "image"
REQUIRED = os.environ.get("LGCRON_IMAGE_TEST") == "required"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
POD_NAME = "langgraph-cron-operator-5d8f7c9b4-imgtst"
TEAM = "team-a"
FAR_AWAY = "0 9 1 1 *"  # once a year: nothing fires during the test
# A direct dependency the Pod imports only when a feature is on that the manifests leave off.
IMPORTED_ONLY_WITH = {"cryptography": "the admission webhook (LGCRON_WEBHOOK_*): its CA and certificate"}


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"LGCRON_IMAGE_TEST=required, but {reason}")
    pytest.skip(reason)


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(SCRIPT), "podman", *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check:
        assert result.returncode == 0, f"podman {' '.join(args[:3])} ...: {result.returncode}\n{result.stdout}{result.stderr}"
    return result


def report(request: pytest.FixtureRequest, line: str) -> None:
    """A line in pytest's own output (not captured): the image's size and build time, what it imports."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is not None:
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.write_line(f"[image] {line}")


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


def free_port() -> int:
    from langgraph_cron.clients.devserver import free_port as free

    return free()


# ---------------------------------------------------------------- the image


@dataclass(frozen=True)
class Image:
    tag: str
    size: int
    entrypoint: list[str]
    user: str
    sources: dict[str, str]  # operator/langgraph_cron/**.py -> sha256, as the build started


def package_hashes() -> dict[str, str]:
    source = ROOT / "operator" / "langgraph_cron"
    return {p.relative_to(source).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in source.rglob("*.py")}


def deployment_doc() -> dict[str, Any]:
    [doc] = [d for d in yaml.safe_load_all((ROOT / "manifests" / "deployment.yaml").read_text()) if d]
    return doc


@pytest.fixture(scope="module", autouse=True)
def prerequisites() -> None:
    """The whole module needs podman, kubectl and a control plane: without one, nothing here runs."""
    if not os.environ.get("KUBEBUILDER_ASSETS"):
        unavailable("KUBEBUILDER_ASSETS is not set: the image runs against a private control plane")
    if shutil.which("kubectl") is None:
        unavailable("kubectl is not installed")
    if shutil.which("podman") is None:
        unavailable("podman is not installed (bash scripts/image setup installs it with apt-get)")
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        unavailable(f"podman cannot run here: {info.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def image(request: pytest.FixtureRequest) -> Image:
    """`bash scripts/image base` (cached) then `build`: the Dockerfile as it is, tagged as the manifests
    name the image (the tag the chart and manifests expect, and LGCRON_INVOKER_IMAGE)."""
    [container] = deployment_doc()["spec"]["template"]["spec"]["containers"]
    tag = container["image"]
    base = subprocess.run(["bash", str(SCRIPT), "base"], capture_output=True, text=True, timeout=900, check=False)
    if base.returncode != 0:
        unavailable(f"no stand-in for the FROM image (bash scripts/image base): {base.stderr.strip()[-500:]}")
    started, sources = time.monotonic(), package_hashes()
    built = subprocess.run(["bash", str(SCRIPT), "build", tag], capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stderr[-4000:]
    seconds = time.monotonic() - started
    inspected = json.loads(podman("image", "inspect", tag).stdout)[0]
    config = inspected.get("Config") or {}
    size = int(inspected["Size"])
    report(request, f"{tag}: {size / 1e6:.0f} MB ({size} bytes), built in {seconds:.0f}s")
    return Image(tag=tag, size=size, entrypoint=config.get("Entrypoint") or [], user=config.get("User") or "",
                 sources=sources)


def run_in_image(image: Image, *command: str) -> str:
    result = podman("run", "--rm", "--entrypoint", json.dumps(list(command[:1])), image.tag, *command[1:])
    return result.stdout


def test_image_holds_no_kubernetes_client_and_no_pip(image):
    """The Pod never imports the official client (128 MB), nor the venv's pip and setuptools."""
    script = ("import importlib.metadata as m, json; "
              "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))")
    installed = set(json.loads(run_in_image(image, "python", "-c", script)))
    assert "langgraph-cron-operator" in installed and "kopf" in installed
    assert not installed & {"kubernetes", "pip", "setuptools", "wheel"}, installed
    assert image.size < 260e6, f"{image.size / 1e6:.0f} MB: was 221 MB with the stand-in base (374 MB with kubernetes)"


def test_image_carries_this_checkouts_package(image):
    """Every module of operator/langgraph_cron, byte for byte: no stale layer of an earlier build. (A file
    edited while the image was built may match the tree of either side of the build.)"""
    script = ("import hashlib, json, pathlib, langgraph_cron; root = pathlib.Path(langgraph_cron.__file__).parent; "
              "print(json.dumps({p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() "
              "for p in root.rglob('*.py')}))")
    in_image = json.loads(run_in_image(image, "python", "-c", script))
    before, after = image.sources, package_hashes()
    assert set(in_image) in (set(before), set(after)), sorted(set(in_image) ^ set(after))
    stale = sorted(name for name, digest in in_image.items() if digest not in (before.get(name), after.get(name)))
    assert not stale, f"the image's copies differ from the checkout's: {stale}"


def test_image_runs_as_a_numeric_non_root_user(image):
    uid, _, gid = image.user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit()), image.user
    assert image.entrypoint == ["lgcron"]


# ---------------------------------------------------------------- a kubelet, for one Pod spec


@dataclass
class PodRunner:
    """Turns a Pod's container spec into `podman run` arguments, as kubelet would run it."""

    image: Image
    apiserver: Apiserver
    namespace: str  # the Pod's
    sa_dir: Path | None = None
    service_env: dict[str, str] = field(default_factory=dict)  # KUBERNETES_SERVICE_HOST/PORT

    def env(self, container: dict[str, Any], pod_labels: dict[str, str]) -> dict[str, str]:
        env: dict[str, str] = dict(self.service_env)
        for item in container.get("env") or []:
            source = item.get("valueFrom")
            if source is None:
                env[item["name"]] = expand(str(item.get("value", "")), env)
            elif "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                if path == "metadata.name":
                    env[item["name"]] = POD_NAME
                elif path == "metadata.namespace":
                    env[item["name"]] = self.namespace
                elif m := re.fullmatch(r"metadata\.labels\['([^']+)'\]", path):
                    env[item["name"]] = pod_labels[m[1]]
                else:
                    raise AssertionError(f"fieldRef {path}: the test's kubelet does not know it")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                got = self.apiserver.kubectl("-n", self.namespace, "get", "secret", ref["name"], "-o",
                                             f"jsonpath={{.data.{ref['key']}}}")
                if got.returncode != 0 or not got.stdout:
                    assert ref.get("optional"), f"Secret {ref['name']} (key {ref['key']}): {got.stderr}"
                    continue
                env[item["name"]] = base64.b64decode(got.stdout).decode()
            else:
                raise AssertionError(f"env {item['name']}: {source}: the test's kubelet does not know it")
        return env

    def args(self, pod_spec: dict[str, Any], container: dict[str, Any], env: dict[str, str], name: str) -> list[str]:
        security = {**(pod_spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
        run = ["run", "--name", name, "--network", "host", "--label", "io.lgcron.test=image",
               "--timeout", "1200"]  # conmon kills it even if the test process is killed first
        if security.get("readOnlyRootFilesystem"):
            run += ["--read-only", "--read-only-tmpfs=false"]  # kubelet adds no writable /tmp of its own
        uid = security.get("runAsUser") or int(self.image.user.partition(":")[0])
        gid = security.get("runAsGroup") or int(self.image.user.partition(":")[2] or uid)
        if security.get("runAsNonRoot"):
            assert uid != 0, "runAsNonRoot with a root user: kubelet would refuse to start it"
        run += ["--user", f"{uid}:{gid}"]
        run += [f"--cap-drop={cap}" for cap in (security.get("capabilities") or {}).get("drop") or []]
        assert not (security.get("capabilities") or {}).get("add"), "no capabilities are added"
        if security.get("allowPrivilegeEscalation") is False:
            run += ["--security-opt", "no-new-privileges"]
        volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            assert "emptyDir" in volume, f"volume {mount['name']}: only emptyDir is emulated"
            run += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777,size=64m"]  # an emptyDir, writable by any uid
        if self.sa_dir is not None and pod_spec.get("automountServiceAccountToken") is not False:
            run += ["--volume", f"{self.sa_dir}:{SA_DIR}:ro"]
        for key, value in env.items():
            run += ["--env", f"{key}={value}"]
        if container.get("command"):
            run += ["--entrypoint", json.dumps(container["command"])]
        return [*run, container.get("image") or self.image.tag, *(container.get("args") or [])]


def expand(value: str, defined: dict[str, str]) -> str:
    """kubelet's `$(VAR)`: an earlier variable of the container (an unknown one stays as written); `$$` is `$`."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m[0] == "$$" else defined.get(m[1], m[0]), value)


def service_account_dir(base: Path, token: str, ca: Path, namespace: str) -> Path:
    """What kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount, readable by the Pod's user."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    for name, text in (("token", token), ("ca.crt", ca.read_text()), ("namespace", namespace)):
        (base / name).write_text(text)
        (base / name).chmod(0o644)
    return base


# ---------------------------------------------------------------- the cluster and the install


@dataclass
class Cluster:
    apiserver: Apiserver
    port: int
    ca: Path
    pids: dict[str, int]
    namespace: str  # the operator's (the manifests' kustomization namespace)
    service_account: str
    cluster_role: dict[str, Any]
    deployment: dict[str, Any]

    def token(self, service_account: str) -> str:
        return self.apiserver.ok("-n", self.namespace, "create", "token", service_account, "--duration=2h").strip()

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        scope = ["-n", namespace] if namespace else []
        result = self.apiserver.kubectl(*scope, "get", kind, name, "-o", "json")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def apply(self, *docs: dict[str, Any]) -> None:
        self.apiserver.ok("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A private control plane with the CRDs, and the manifests' namespace, ServiceAccount and RBAC."""
    assets, kubectl = os.environ["KUBEBUILDER_ASSETS"], shutil.which("kubectl")
    from tests.operator.control_plane import ControlPlane

    with ControlPlane.from_assets(assets, controller_manager=False) as plane:
        apiserver = Apiserver(plane.kubeconfig, private=True, kubectl_binary=kubectl)
        apiserver.ok("apply", "-k", str(ROOT / "crds"))
        names = [f"crd/{d['metadata']['name']}" for p in sorted((ROOT / "crds").glob("*.yaml"))
                 for d in yaml.safe_load_all(p.read_text()) if d]
        apiserver.ok("wait", "--for=condition=Established", "--timeout=60s", *names)
        docs = [d for d in yaml.safe_load_all(apiserver.ok("kustomize", str(ROOT / "manifests"))) if d]
        install = [d for d in docs if d["kind"] in {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                                    "Role", "RoleBinding"}]
        apiserver.ok("apply", "-f", "-", stdin=yaml.safe_dump_all(install))
        [deployment] = [d for d in docs if d["kind"] == "Deployment"]
        [role] = [d for d in docs if d["kind"] == "ClusterRole"]
        yield Cluster(apiserver=apiserver, port=plane.apiserver_port, ca=plane.workdir / "pki" / "ca.crt",
                      pids=plane.pids(), namespace=deployment["metadata"]["namespace"],
                      service_account=deployment["spec"]["template"]["spec"]["serviceAccountName"],
                      cluster_role=role, deployment=deployment)


# ---------------------------------------------------------------- the operator's Pod


@dataclass
class Operator:
    name: str
    liveness: str
    runner: PodRunner
    invoke_imports: set[str] = field(default_factory=set)  # what the cronJob trigger's `lgcron invoke` imported

    def logs(self) -> str:
        result = podman("logs", self.name, check=False, timeout=60)
        return "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                         if not line.startswith("import time:"))

    def imported_modules(self) -> set[str]:
        result = podman("logs", self.name, check=False, timeout=60)
        return imported_top_level(result.stdout + result.stderr)

    def healthz(self, timeout: float = 10) -> int:
        try:
            return httpx.get(self.liveness, timeout=timeout).status_code
        except httpx.HTTPError:
            return 0


def imported_top_level(output: str) -> set[str]:
    """Top-level modules from PYTHONPROFILEIMPORTTIME's lines (`import time: self | cumulative | name`)."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in output.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def pod_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def operator(image, cluster, agent_server, tmp_path_factory) -> Iterator[Operator]:
    """The operator's container, as the Deployment runs it, with LGCRON_SERVER_URL set (README: kubectl
    set env) and the operator's key in the lgcron-api-key Secret the Deployment reads."""
    cluster.apiserver.ok("-n", cluster.namespace, "create", "secret", "generic", "lgcron-api-key",
                         "--from-literal=apiKey=operator-key")
    sa_dir = service_account_dir(tmp_path_factory.mktemp("sa") / "serviceaccount",
                                 cluster.token(cluster.service_account), cluster.ca, cluster.namespace)
    runner = PodRunner(image, cluster.apiserver, cluster.namespace, sa_dir,
                       {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(cluster.port)})
    pod_spec = cluster.deployment["spec"]["template"]["spec"]
    [container] = pod_spec["containers"]
    assert container["image"] == image.tag
    port = free_port()
    args = [re.sub(r"^(https?://[^/:]+):\d+", rf"\g<1>:{port}", a) for a in container["args"]]
    assert args != container["args"], "the Deployment's args have a --liveness URL"
    liveness = urllib.parse.urlsplit(next(a for a in args if a.startswith("http")))
    env = {**runner.env(container, {}), "LGCRON_SERVER_URL": agent_server.url, "PYTHONPROFILEIMPORTTIME": "1"}
    for name in ("LGCRON_WEBHOOK_PORT", "LGCRON_METRICS_PORT"):  # other listening ports, on the host's network too
        if env.get(name):
            env[name] = str(free_port())
    name = pod_name("lgcron-image-operator")
    run = runner.args(pod_spec, {**container, "args": args}, env, name)
    podman(run[0], "--detach", *run[1:])
    running = Operator(name=name, liveness=f"http://127.0.0.1:{port}{liveness.path}", runner=runner)
    try:
        yield running
    finally:
        podman("rm", "--force", "--time", "5", name, check=False, timeout=60)


def test_liveness_answers_200_once_the_operator_is_connected(operator):
    try:
        wait_until("/healthz 200", lambda: operator.healthz() == 200 or None, timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the operator's log:\n{operator.logs()[-6000:]}") from None
    assert httpx.get(operator.liveness, timeout=10).json() == {"kubernetes-api": "connected"}


def test_it_reached_the_api_through_kubernetes_service_host_without_cluster_dns(operator):
    """The Pod's login honours KUBERNETES_SERVICE_HOST/PORT: kubernetes.default.svc does not resolve here."""
    lookup = podman("exec", operator.name, "python", "-c",
                    "import socket; socket.getaddrinfo('kubernetes.default.svc', 443)", check=False)
    assert lookup.returncode != 0 and "gaierror" in lookup.stderr, lookup.stdout + lookup.stderr
    assert "kubernetes.default.svc" not in operator.logs()


# ---------------------------------------------------------------- one cron per kind of connection


def ready(cluster: Cluster, kind: str, name: str, namespace: str | None, timeout: float = 60) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = cluster.get(kind, name, namespace)
        conditions = ((obj or {}).get("status") or {}).get("conditions") or []
        return obj if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None

    try:
        return wait_until(f"{kind} {namespace}/{name} Ready", check, timeout)
    except AssertionError:
        raise AssertionError(f"{kind} {namespace}/{name} not Ready: {json.dumps(cluster.get(kind, name, namespace), indent=1)}") from None


def crons_on_server(url: str, uid: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{url}/runs/crons/search", json={"metadata": {"lgcron.io/uid": uid}, "limit": 10}, timeout=10)
    response.raise_for_status()
    return [c for c in response.json() if (c.get("metadata") or {}).get("lgcron.io/uid") == uid]


def cron(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron", "metadata": {"name": name, "namespace": TEAM},
            "spec": {"schedule": FAR_AWAY, "assistantId": "agent", "input": {"text": name}, **spec}}


def secret(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": {"apiKey": value}}


@pytest.fixture(scope="module")
def servers(cluster, agent_server, operator) -> None:
    """A namespace with its own LangGraphServer, and a ClusterLangGraphServer that allows it."""
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEAM}},
        secret(TEAM, "inline-key", "inline-key-value"),
        secret(TEAM, "team-key", "team-key-value"),
        secret(cluster.namespace, "shared-key", "shared-key-value"),
    )
    cluster.apply(
        {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphServer", "metadata": {"name": "team-agents", "namespace": TEAM},
         "spec": {"url": agent_server.url, "apiKeySecretRef": {"name": "team-key", "key": "apiKey"}}},
        {"apiVersion": "lgcron.io/v1alpha1", "kind": "ClusterLangGraphServer", "metadata": {"name": "shared-agents"},
         "spec": {"url": agent_server.url, "conditions": [{"namespaces": [TEAM]}],
                  "apiKeySecretRef": {"namespace": cluster.namespace, "name": "shared-key", "key": "apiKey"}}},
    )
    ready(cluster, "langgraphserver", "team-agents", TEAM)
    ready(cluster, "clusterlanggraphserver", "shared-agents", None)


CONNECTIONS = {
    "via-default-server": {},  # LGCRON_SERVER_URL, with the operator's key (Secret lgcron-api-key)
    "via-inline-url": {"server": {"url": "AGENT_SERVER", "apiKeySecretRef": {"name": "inline-key", "key": "apiKey"}}},
    "via-server-object": {"serverRef": {"name": "team-agents"}},
    "via-cluster-server-object": {"serverRef": {"kind": "ClusterLangGraphServer", "name": "shared-agents"}},
}


def test_one_cron_per_kind_of_connection_is_reconciled(cluster, agent_server, operator, servers):
    for name, spec in CONNECTIONS.items():
        spec = json.loads(json.dumps(spec).replace("AGENT_SERVER", agent_server.url))
        cluster.apply(cron(name, **spec))
    kube_system = cluster.get("namespace", "kube-system")["metadata"]["uid"]
    for name in CONNECTIONS:
        obj = ready(cluster, "langgraphcron", name, TEAM)
        status = obj["status"]
        [on_server] = crons_on_server(agent_server.url, obj["metadata"]["uid"])
        assert on_server["cron_id"] == status["cronId"], name
        assert on_server["metadata"]["lgcron.io/cluster"] == kube_system, "the cluster id is kube-system's UID"
        assert status["serverUrl"] == agent_server.url


def test_a_cronjob_trigger_runs_lgcron_invoke_in_the_same_image(cluster, agent_server, image, operator, servers):
    """The Job a trigger creates, run from its Pod template as kubelet would: `lgcron invoke`, same image."""
    # onRunCompleted keep: the run's thread (and so its record) stays on the server for the check below.
    cluster.apply(cron("via-cronjob", backend="cronJob", serverRef={"name": "team-agents"}, onRunCompleted="keep"))
    ready(cluster, "langgraphcron", "via-cronjob", TEAM)
    value = f"image-test-{secrets.token_hex(3)}"
    cluster.apiserver.ok("-n", TEAM, "annotate", "langgraphcron", "via-cronjob", f"lgcron.io/trigger={value}")

    def triggered_job() -> dict[str, Any] | None:
        jobs = json.loads(cluster.apiserver.ok("-n", TEAM, "get", "jobs", "-o", "json"))["items"]
        return next((j for j in jobs if (j["metadata"].get("annotations") or {}).get("lgcron.io/trigger") == value), None)

    job = wait_until("the trigger's Job", triggered_job, timeout=60)
    template = job["spec"]["template"]
    pod_spec = template["spec"]
    [container] = pod_spec["containers"]
    assert container["image"] == image.tag, "the invoker image is the operator's own (LGCRON_INVOKER_IMAGE)"
    command = (container.get("command") or image.entrypoint) + (container.get("args") or [])
    assert command == ["lgcron", "invoke"]
    # Kubelet's part: the Job controller labels its Pods with job-name.
    labels = {**(template["metadata"].get("labels") or {}), "job-name": job["metadata"]["name"]}
    runner = PodRunner(image, cluster.apiserver, TEAM)  # automountServiceAccountToken: false, no token
    env = {**runner.env(container, labels), "PYTHONPROFILEIMPORTTIME": "1"}
    assert env["LGCRON_API_KEY"] == "team-key-value"  # from the LangGraphServer's Secret, in the Pod's namespace
    name = pod_name("lgcron-image-invoke")
    args = runner.args(pod_spec, container, env, name)
    result = podman(args[0], "--rm", *args[1:], check=False, timeout=180)
    output = "\n".join(line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("import time:"))
    assert result.returncode == 0, output
    threads = httpx.post(f"{agent_server.url}/threads/search", timeout=10,
                         json={"metadata": {"lgcron.io/job": job["metadata"]["name"]}, "limit": 5}).json()
    assert len(threads) == 1, threads
    runs = httpx.get(f"{agent_server.url}/threads/{threads[0]['thread_id']}/runs", timeout=10).json()
    assert [run["status"] for run in runs] == ["success"], runs
    operator.invoke_imports = imported_top_level(result.stdout + result.stderr)  # for the import audit


def test_healthz_fails_while_the_api_does_not_answer_and_recovers(cluster, operator):
    """The apiserver stopped (SIGSTOP: connections hang, as in a network partition), then resumed."""
    assert operator.healthz() == 200
    apiserver = cluster.pids["kube-apiserver"]
    os.kill(apiserver, signal.SIGSTOP)
    try:
        # kopf caches a passing probe for 10 s; the probe itself gives up after 4 s.
        status = wait_until("/healthz not 200", lambda: (s := operator.healthz()) != 200 and s, timeout=45)
        assert status == 500
    finally:
        os.kill(apiserver, signal.SIGCONT)
    wait_until("/healthz 200 again", lambda: operator.healthz() == 200, timeout=60)


def test_crons_are_deleted_from_the_server_with_their_resources(cluster, agent_server, operator):
    uids = {n: cluster.get("langgraphcron", n, TEAM)["metadata"]["uid"] for n in CONNECTIONS}
    cluster.apiserver.ok("-n", TEAM, "delete", "langgraphcron", "--all", "--wait=true", "--timeout=90s")
    for name, uid in uids.items():
        assert crons_on_server(agent_server.url, uid) == [], name


def test_the_pod_imports_every_library_in_the_image(image, operator, request):
    """No library in the image that the Pod never imports: every direct dependency is imported by
    `lgcron run` (start-up, reconcile, trigger, deletion) or `lgcron invoke`, but for one feature's."""
    script = ("import importlib.metadata as m, json; d = m.packages_distributions(); "
              "req = [r for r in m.requires('langgraph-cron-operator') if 'extra ==' not in r]; "
              "print(json.dumps({'modules': d, 'requires': req}))")
    found = json.loads(run_in_image(image, "python", "-c", script))
    imported = operator.imported_modules() | operator.invoke_imports
    assert imported, "PYTHONPROFILEIMPORTTIME listed no import"
    used = {dist.lower() for module, dists in found["modules"].items() if module in imported for dist in dists}
    direct = {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in found["requires"]}
    installed = {dist.lower() for dists in found["modules"].values() for dist in dists}
    norm = {d.replace("_", "-") for d in used}
    never = sorted(d for d in direct if d not in norm and d not in IMPORTED_ONLY_WITH)
    assert not never, f"direct dependencies the Pod never imports: {never}"
    report(request, f"distributions never imported by the Pod in this test: "
                    f"{sorted(d for d in installed if d.replace('_', '-') not in norm)} "
                    f"(direct ones only with a feature: {sorted(IMPORTED_ONLY_WITH)})")


def test_the_operators_log_has_no_forbidden_and_it_stops_cleanly(operator):
    podman("stop", "--time", "20", operator.name, timeout=60)
    state = json.loads(podman("inspect", operator.name).stdout)[0]["State"]
    log = operator.logs()
    assert "forbidden" not in log.lower(), log[-6000:]
    assert "Traceback" not in log, log[-6000:]
    assert state["ExitCode"] == 0, log[-3000:]


# ---------------------------------------------------------------- start-up errors, one line each


def run_to_exit(runner: PodRunner, cluster: Cluster, env_overrides: dict[str, str], args: list[str],
                timeout: float = 90) -> subprocess.CompletedProcess:
    pod_spec = cluster.deployment["spec"]["template"]["spec"]
    [container] = pod_spec["containers"]
    env = {**runner.env(container, {}), **env_overrides}
    podman_args = runner.args(pod_spec, {**container, "args": args}, env, pod_name("lgcron-image-start"))
    return podman(podman_args[0], "--rm", *podman_args[1:], check=False, timeout=timeout)


@pytest.fixture(scope="module")
def without_cluster_id_rbac(image, cluster, tmp_path_factory) -> PodRunner:
    """A ServiceAccount with the manifests' ClusterRole less its `get` on namespace kube-system."""
    role = json.loads(json.dumps(cluster.cluster_role))
    role["metadata"] = {"name": "lgcron-no-cluster-id"}
    rules = [r for r in role["rules"] if "kube-system" not in (r.get("resourceNames") or [])]
    assert len(rules) == len(role["rules"]) - 1, "the manifests' RBAC grants get on namespaces/kube-system"
    role["rules"] = rules
    cluster.apiserver.ok("-n", cluster.namespace, "create", "serviceaccount", "lgcron-no-cluster-id")
    cluster.apply(role, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "lgcron-no-cluster-id"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lgcron-no-cluster-id"},
        "subjects": [{"kind": "ServiceAccount", "name": "lgcron-no-cluster-id", "namespace": cluster.namespace}]})
    sa_dir = service_account_dir(tmp_path_factory.mktemp("sa-no-id") / "serviceaccount",
                                 cluster.token("lgcron-no-cluster-id"), cluster.ca, cluster.namespace)
    return PodRunner(image, cluster.apiserver, cluster.namespace, sa_dir,
                     {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(cluster.port)})


def test_an_unreadable_cluster_id_stops_start_up_with_one_line(cluster, without_cluster_id_rbac):
    result = run_to_exit(without_cluster_id_rbac, cluster, {}, ["run", "--all-namespaces"])
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 3, lines
    assert len(lines) == 1 and lines[0].startswith("lgcron run: error: cannot read the cluster id"), lines
    assert "LGCRON_CLUSTER_ID" in lines[0] and "unknown" not in lines[0]


def test_with_lgcron_cluster_id_set_it_starts_without_reading_it(cluster, without_cluster_id_rbac):
    namespace = f"empty-{secrets.token_hex(3)}"  # its own namespace: never beside the operator above
    cluster.apiserver.ok("create", "namespace", namespace)
    port = free_port()
    pod_spec = cluster.deployment["spec"]["template"]["spec"]
    [container] = pod_spec["containers"]
    runner = without_cluster_id_rbac
    env = {**runner.env(container, {}), "LGCRON_CLUSTER_ID": "set-by-hand"}
    name = pod_name("lgcron-image-cluster-id")
    args = runner.args(pod_spec, {**container, "args": ["run", "-n", namespace, "--liveness", f"http://127.0.0.1:{port}/healthz"]},
                       env, name)
    podman(args[0], "--detach", *args[1:])
    try:
        status = Operator(name, f"http://127.0.0.1:{port}/healthz", runner)
        wait_until("/healthz 200 with LGCRON_CLUSTER_ID", lambda: status.healthz() == 200, timeout=90)
        assert "forbidden" not in status.logs().lower()
    finally:
        podman("rm", "--force", "--time", "5", name, check=False, timeout=60)


def test_without_the_service_variables_it_stops_at_once_instead_of_retrying(cluster, without_cluster_id_rbac):
    """kopf's own login asks for https://kubernetes.default.svc: no cluster DNS here, so it stops (exit 4)."""
    runner = PodRunner(without_cluster_id_rbac.image, cluster.apiserver, cluster.namespace, without_cluster_id_rbac.sa_dir)
    started = time.monotonic()
    result = run_to_exit(runner, cluster, {}, ["run", "--all-namespaces"], timeout=120)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 4, lines
    assert lines == [lines[-1]] and "cannot reach the Kubernetes API at https://kubernetes.default.svc" in lines[-1]
    assert time.monotonic() - started < 60
