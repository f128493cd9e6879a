"""`kubectl kustomize manifests/` (offline) builds a complete, least-privilege, hardened install."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
import langgraph_cron
from langgraph_cron.core.crd import all_crds
from langgraph_cron.core.webhook import WebhookSettings

from tests.packaging import kubelet
from tests.packaging.conftest import Apiserver

ROOT = Path(__file__).resolve().parents[2]
VERSION = langgraph_cron.__version__  # the one place (pyproject reads it too)
IMAGE = f"ghcr.io/lgcron/langgraph-cron-operator:{VERSION}"


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it is needed to build manifests/ with kustomize")
    command = [kubectl, "kustomize", str(ROOT / "manifests")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _one(docs: list[dict], kind: str) -> dict:
    [found] = [d for d in docs if d["kind"] == kind]
    return found


def _rules(docs: list[dict]) -> list[dict]:
    return [rule for d in docs if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]]


def _verbs(docs: list[dict], group: str, resource: str, names: list[str] | None = None) -> set[str]:
    """Verbs granted on a resource by rules for all its objects (names=None) or for exactly these names."""
    return {
        verb
        for rule in _rules(docs)
        if group in rule.get("apiGroups", [])
        and resource in rule.get("resources", [])
        and rule.get("resourceNames") == names
        for verb in rule["verbs"]
    }


def test_every_document_is_a_named_object(docs):
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), doc


CRD_FILES = ("langgraphcron.yaml", "langgraphserver.yaml", "clusterlanggraphserver.yaml")


def _crds(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}


def test_installs_namespace_rbac_and_deployment_but_no_crds(docs):
    """The CRDs are installed on their own (`kubectl apply -k crds/`, the README's first step): deleting the
    operator's kustomization must never delete the CRDs, and with them every LangGraphCron, under running crons."""
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ClusterRole"]
        + ["ClusterRoleBinding", "Deployment", "Service", "Role", "RoleBinding"]
    )
    assert not _crds(docs)
    assert _one(docs, "Namespace")["metadata"]["name"] == "lgcron-system"
    for doc in docs:
        if doc["kind"] in ("ServiceAccount", "Deployment", "Service", "Role", "RoleBinding"):
            assert doc["metadata"]["namespace"] == "lgcron-system"


def test_manifests_do_not_reference_the_crds():
    kustomization = yaml.safe_load((ROOT / "manifests" / "kustomization.yaml").read_text())
    assert not [r for r in kustomization["resources"] if "crd" in r.lower()], kustomization["resources"]


@pytest.fixture(scope="module")
def crd_docs() -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it is needed to build crds/ with kustomize")
    result = subprocess.run([kubectl, "kustomize", str(ROOT / "crds")], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_crds_step_installs_the_generated_ones_unchanged(crd_docs):
    """`kubectl apply -k crds/` (the install's first step) applies exactly the three generated CRDs."""
    assert [d["kind"] for d in crd_docs] == ["CustomResourceDefinition"] * len(CRD_FILES)
    assert sorted(_crds(crd_docs)) == [
        "clusterlanggraphservers.lgcron.io",
        "langgraphcrons.lgcron.io",
        "langgraphservers.lgcron.io",
    ]
    committed = [yaml.safe_load((ROOT / "crds" / name).read_text()) for name in CRD_FILES]
    assert _crds(crd_docs) == {crd["metadata"]["name"]: crd for crd in committed}
    assert _crds(crd_docs) == {crd["metadata"]["name"]: crd for crd in all_crds().values()}  # and to the models
    for crd in _crds(crd_docs).values():
        assert "namespace" not in crd["metadata"]


def test_binding_grants_the_role_to_the_deployments_service_account(docs):
    binding, role = _one(docs, "ClusterRoleBinding"), _one(docs, "ClusterRole")
    deployment, account = _one(docs, "Deployment"), _one(docs, "ServiceAccount")
    assert binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] == role["metadata"]["name"]
    [subject] = binding["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "lgcron-system"}
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_rbac_has_no_wildcards(docs):
    for rule in _rules(docs):
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in item for item in rule.get(field, [])), rule
        assert "nonResourceURLs" not in rule


# Exactly what the ClusterRole grants, rule for rule: (apiGroup, resource[, resourceNames]) -> verbs.
EXPECTED_GRANTS = {
    **{
        grant: verbs
        for plural in ("langgraphcrons", "langgraphservers", "clusterlanggraphservers")
        for grant, verbs in {
            ("lgcron.io", plural): {"get", "list", "watch", "patch"},
            ("lgcron.io", f"{plural}/status"): {"get", "patch", "update"},
            ("lgcron.io", f"{plural}/finalizers"): {"update"},
        }.items()
    },
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("", "secrets"): {"get"},
    ("", "configmaps"): {"get"},
    ("batch", "cronjobs"): {"get", "list", "watch", "create", "patch", "update", "delete"},
    ("batch", "jobs"): {"get", "list", "watch", "create"},
    ("", "namespaces"): {"list", "watch"},
    ("", "namespaces", ("kube-system",)): {"get"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    ("kopf.dev", "clusterkopfpeerings"): {"get", "list", "watch", "patch"},
    ("kopf.dev", "kopfpeerings"): {"get", "list", "watch", "patch"},
    # The admission webhook's configuration: create cannot be limited to a name, get and patch are.
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): {"create"},
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", ("validation.lgcron.io",)): {"get", "patch"},
}
# The Role in lgcron-system (the operator's own namespace): the webhook's TLS Secret, written by name.
ROLE_GRANTS = {("", "secrets"): {"create"}, ("", "secrets", ("lgcron-webhook-tls",)): {"get", "update"}}


def _granted(rules: list[dict]) -> dict[tuple, set[str]]:
    granted: dict[tuple, set[str]] = {}
    for rule in rules:
        names = (tuple(rule["resourceNames"]),) if rule.get("resourceNames") else ()
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource, *names), set()).update(rule["verbs"])
    return granted


def test_rbac_grants_exactly_what_the_operator_and_kopf_use(docs):
    assert _granted(_one(docs, "ClusterRole")["rules"]) == EXPECTED_GRANTS
    role = _one(docs, "Role")
    assert _granted(role["rules"]) == ROLE_GRANTS and role["metadata"]["namespace"] == "lgcron-system"
    [binding] = [d for d in docs if d["kind"] == "RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == _one(docs, "ClusterRoleBinding")["subjects"]


def test_rbac_grants_what_the_operator_and_kopf_use(docs):
    assert _verbs(docs, "lgcron.io", "langgraphcrons") == {"get", "list", "watch", "patch"}
    assert _verbs(docs, "lgcron.io", "langgraphcrons/status") == {"get", "patch", "update"}
    # Server objects: watched and reconciled like crons (kopf patches its finalizer and annotations on
    # them and writes their status); update on /finalizers for owner references that block deletion.
    for plural in ("langgraphservers", "clusterlanggraphservers"):
        assert _verbs(docs, "lgcron.io", plural) == {"get", "list", "watch", "patch"}
        assert _verbs(docs, "lgcron.io", f"{plural}/status") == {"get", "patch", "update"}
        assert _verbs(docs, "lgcron.io", f"{plural}/finalizers") == {"update"}
    # caBundleRef may name a ConfigMap: read by name, never listed or watched.
    assert _verbs(docs, "", "configmaps") == {"get"}
    assert {"create", "patch"} <= _verbs(docs, "", "events")
    assert {"create", "patch"} <= _verbs(docs, "events.k8s.io", "events")
    assert _verbs(docs, "batch", "cronjobs") == {"get", "list", "watch", "create", "patch", "update", "delete"}
    assert _verbs(docs, "batch", "jobs") == {"get", "list", "watch", "create"}
    assert _verbs(docs, "", "namespaces") == {"list", "watch"}
    assert _verbs(docs, "", "namespaces", ["kube-system"]) == {"get"}  # the cluster id
    assert _verbs(docs, "apiextensions.k8s.io", "customresourcedefinitions") == {"list", "watch"}
    for peering in ("clusterkopfpeerings", "kopfpeerings"):
        assert _verbs(docs, "kopf.dev", peering) == {"get", "list", "watch", "patch"}


def test_secrets_and_configmaps_are_only_read_by_name(docs):
    """Cluster-wide, Secrets and ConfigMaps are only read by name; the one Secret written is the webhook's
    TLS, in the operator's own namespace (create cannot be limited to a name; update is by name)."""
    for resource in ("secrets", "configmaps"):
        rules = [rule for rule in _one(docs, "ClusterRole")["rules"] if resource in rule["resources"]]
        assert rules and all(rule["verbs"] == ["get"] for rule in rules), resource
    role = _one(docs, "Role")
    for rule in role["rules"]:
        assert rule["resources"] == ["secrets"] and rule["apiGroups"] == [""], rule
        assert rule["verbs"] == ["create"] or rule.get("resourceNames") == ["lgcron-webhook-tls"], rule
    assert not [d for d in docs if d["kind"] == "Role" and d is not role]


def test_no_write_verbs_on_anything_but_the_operators_own_objects(docs):
    """Writes only where the operator must write: its resources' metadata/status, Events, the cronJob
    backend, its webhook configuration and the webhook's TLS Secret."""
    writers = {"lgcron.io", "events.k8s.io", "batch", "kopf.dev"}
    for rule in _rules(docs):
        if set(rule["verbs"]) & {"create", "update", "patch", "delete", "deletecollection"}:
            assert (
                set(rule["apiGroups"]) <= writers
                or rule["resources"] == ["events"]
                or rule["resources"] == ["validatingwebhookconfigurations"]
                or rule in _one(docs, "Role")["rules"]
            ), rule
        assert "delete" not in rule["verbs"] or rule["resources"] == ["cronjobs"], rule


def test_deployment_runs_the_operator_image_cluster_wide(docs):
    deployment = _one(docs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    [container] = spec["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    command = container.get("command", ["lgcron"]) + container["args"]
    assert command == ["lgcron", "run", "--all-namespaces", "--liveness", "http://0.0.0.0:8080/healthz"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LGCRON_INVOKER_IMAGE"]["value"] == IMAGE
    assert "LGCRON_RESYNC_INTERVAL" in env
    assert "LGCRON_SERVER_URL" not in env, "unset (no default server): set by a patch or kubectl set env"
    key_ref = env["LGCRON_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key_ref["optional"] is True and "value" not in env["LGCRON_API_KEY"]
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_probes_hit_kopfs_liveness_endpoint(docs):
    [container] = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz" and ports.get(get["port"], get["port"]) == 8080
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_pod_is_hardened_and_only_tmp_is_writable(docs):
    pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"] and "add" not in security["capabilities"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    [volume] = pod["volumes"]
    assert volume["name"] == container["volumeMounts"][0]["name"] and "emptyDir" in volume


# ---------------------------------------------------------------- the admission webhook

WEBHOOK_ENV = (
    "LGCRON_WEBHOOK_SERVICE",
    "LGCRON_WEBHOOK_PORT",
    "LGCRON_WEBHOOK_CONFIGURATION",
    "LGCRON_WEBHOOK_FAILURE_POLICY",
    "LGCRON_WEBHOOK_TIMEOUT_SECONDS",
    "LGCRON_WEBHOOK_TLS_SECRET",
)


def _webhook_settings(docs: list[dict]) -> WebhookSettings:
    """The operator's webhook settings, from the Deployment's env as kubelet hands it to the process."""
    deployment = _one(docs, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    pod = {"metadata.name": "langgraph-cron-operator-abc12", "metadata.namespace": deployment["metadata"]["namespace"]}
    return WebhookSettings.from_env(kubelet.container_env(container, pod))


def test_webhook_service_selects_the_operators_pods_and_targets_their_webhook_port(docs):
    service, deployment = _one(docs, "Service"), _one(docs, "Deployment")
    assert service["metadata"] == {
        "name": "lgcron-webhook",
        "namespace": deployment["metadata"]["namespace"],
        "labels": service["metadata"]["labels"],
    }
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] and service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    [port] = service["spec"]["ports"]
    assert port == {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p for p in container["ports"]}
    assert ports["webhook"] == {"name": "webhook", "containerPort": 9443, "protocol": "TCP"}


def test_webhook_env_names_the_service_secret_and_configuration_of_the_install(docs):
    """LGCRON_WEBHOOK_* as the operator reads them ($(POD_NAMESPACE) expanded as kubelet does) name the
    Service above, the Secret the Role lets it write and the configuration the ClusterRole lets it patch."""
    settings = _webhook_settings(docs)
    service = _one(docs, "Service")
    assert settings.enabled and settings.host is None and settings.cert_dir is None
    assert settings.service_ref == (service["metadata"]["namespace"], service["metadata"]["name"])
    assert settings.service_port == service["spec"]["ports"][0]["port"]
    [container] = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert settings.port == {p["name"]: p["containerPort"] for p in container["ports"]}["webhook"]
    assert (settings.failure_policy, settings.timeout_seconds) == ("Ignore", 5)
    assert settings.configuration == "validation.lgcron.io"
    assert EXPECTED_GRANTS[("admissionregistration.k8s.io", "validatingwebhookconfigurations", (settings.configuration,))]
    role = _one(docs, "Role")
    assert settings.secret_ref == (role["metadata"]["namespace"], "lgcron-webhook-tls")
    assert ("", "secrets", (settings.secret_ref[1],)) in _granted(role["rules"])
    assert "lgcron-webhook.lgcron-system.svc" in settings.hostnames
    env = [e["name"] for e in container["env"]]
    assert set(WEBHOOK_ENV) <= set(env)
    # kubelet expands $(POD_NAMESPACE) only when it is defined before the reference.
    assert env.index("POD_NAMESPACE") < min(env.index(name) for name in WEBHOOK_ENV)


def test_webhook_names_follow_an_overlays_namespace(docs):
    """A kustomize overlay that moves the install keeps the webhook's names right: they come from the Pod's namespace."""
    moved = json.loads(json.dumps(docs).replace('"lgcron-system"', '"platform"'))
    settings = _webhook_settings(moved)
    assert settings.service_ref == ("platform", "lgcron-webhook") and settings.secret_ref == ("platform", "lgcron-webhook-tls")


def test_no_env_entry_is_an_empty_value(docs):
    """An unset setting is left out: the apiserver stores no `value: ""`, so Argo CD would diff for ever."""
    [container] = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    for item in container["env"]:
        assert "valueFrom" in item or item.get("value"), item


def test_no_rbac_for_mutating_webhook_configurations(docs):
    for rule in _rules(docs):
        assert "mutatingwebhookconfigurations" not in rule["resources"], rule


# ---------------------------------------------------------------- on a real apiserver (tests/packaging/conftest.py)

OPERATOR = "system:serviceaccount:lgcron-system:langgraph-cron-operator"


@pytest.fixture(scope="module")
def installed(docs, crds_installed) -> Apiserver:
    """`kubectl apply` of the whole build on the private control plane."""
    crds_installed.ok("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    return crds_installed


def can_i(apiserver: Apiserver, user: str, verb: str, resource: str, *extra: str) -> bool:
    result = apiserver.kubectl("auth", "can-i", verb, resource, "--as", user, *extra)
    assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
    return result.stdout.strip() == "yes"


def test_the_install_applies_and_rbac_allows_exactly_what_it_should(installed):
    """`kubectl apply` of the whole build, then `kubectl auth can-i --as` the operator's ServiceAccount."""

    def can(verb: str, resource: str, *extra: str) -> bool:
        return can_i(installed, OPERATOR, verb, resource, *extra)

    for plural in ("langgraphcrons.lgcron.io", "langgraphservers.lgcron.io", "clusterlanggraphservers.lgcron.io"):
        scope = () if plural.startswith("cluster") else ("-n", "team-a")
        for verb in ("get", "list", "watch", "patch"):
            assert can(verb, plural, *scope), (verb, plural)
        for verb in ("create", "delete", "update"):
            assert not can(verb, plural, *scope), (verb, plural)
        for verb in ("patch", "update"):
            assert can(verb, plural, "--subresource=status", *scope), (verb, plural)
        assert can("update", plural, "--subresource=finalizers", *scope)
    for resource in ("secrets", "configmaps"):
        assert can("get", resource, "-n", "team-a")
        for verb in ("list", "watch", "create", "patch", "delete"):
            assert not can(verb, resource, "-n", "team-a"), (verb, resource)
    assert can("list", "namespaces") and can("watch", "namespaces") and not can("get", "namespaces/default")
    assert can("get", "namespaces/kube-system")
    # The webhook's configuration: created (any name: Kubernetes cannot limit create), then read and
    # patched by its name only; never listed, deleted, or another's; no mutating configuration at all.
    vwc = "validatingwebhookconfigurations.admissionregistration.k8s.io"
    assert can("create", vwc)
    for verb in ("get", "patch"):
        assert can(verb, f"{vwc}/validation.lgcron.io"), verb
        assert not can(verb, f"{vwc}/other.example.com"), verb
    for verb in ("list", "watch", "update", "delete"):
        assert not can(verb, vwc) and not can(verb, f"{vwc}/validation.lgcron.io"), verb
    for verb in ("create", "get", "list", "patch", "update", "delete"):
        assert not can(verb, "mutatingwebhookconfigurations.admissionregistration.k8s.io"), verb
        assert not can(verb, "mutatingwebhookconfigurations.admissionregistration.k8s.io/validation.lgcron.io"), verb
    # The webhook's TLS Secret, in the operator's namespace only: created, then read and updated by name.
    assert can("create", "secrets", "-n", "lgcron-system")
    assert can("update", "secrets/lgcron-webhook-tls", "-n", "lgcron-system")
    assert not can("update", "secrets/lgcron-api-key", "-n", "lgcron-system")
    for verb in ("list", "watch", "patch", "delete"):
        assert not can(verb, "secrets/lgcron-webhook-tls", "-n", "lgcron-system"), verb
    assert not can("create", "secrets", "-n", "team-a") and not can("update", "secrets/lgcron-webhook-tls", "-n", "team-a")


def _as_service_account(apiserver: Apiserver, namespace: str, name: str, workdir: Path) -> Apiserver:
    """The apiserver as the ServiceAccount itself: a token from the TokenRequest API (`kubectl create token`)."""
    token = apiserver.ok("-n", namespace, "create", "token", name, "--duration=1h").strip()
    config = yaml.safe_load(apiserver.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path = workdir / f"{namespace}-{name}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return Apiserver(path, private=True, kubectl_binary=apiserver.kubectl_binary)


def _forbidden(result: subprocess.CompletedProcess) -> bool:
    return result.returncode != 0 and "forbidden" in result.stderr.lower()


def test_the_operators_token_does_what_the_webhook_does_and_no_more(installed, tmp_path):
    """With a real token of the operator's ServiceAccount, the requests its webhook start-up makes: kopf's
    create of the configuration and its merge patch; the TLS Secret's create, read and update. Then what
    it must not do: another configuration, any mutating one, another Secret, another namespace."""
    admin = installed
    operator = _as_service_account(admin, "lgcron-system", "langgraph-cron-operator", tmp_path)
    vwc = "validatingwebhookconfiguration"
    admin.ok("delete", vwc, "validation.lgcron.io", "other.example.com", "--ignore-not-found")
    admin.ok("-n", "lgcron-system", "delete", "secret", "lgcron-webhook-tls", "--ignore-not-found")
    own = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": {"name": "validation.lgcron.io"}}
    other = {**own, "metadata": {"name": "other.example.com"}}
    mutating = {**own, "kind": "MutatingWebhookConfiguration"}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "lgcron-webhook-tls", "namespace": "lgcron-system"}, "stringData": {"ca.crt": "x"}}
    try:
        operator.ok("create", "-f", "-", stdin=yaml.safe_dump(own))
        operator.ok("get", vwc, "validation.lgcron.io")
        operator.ok("patch", vwc, "validation.lgcron.io", "--type=merge", "-p", '{"metadata":{"labels":{"a":"b"}}}')
        admin.ok("create", "-f", "-", stdin=yaml.safe_dump(other))
        assert _forbidden(operator.kubectl("patch", vwc, "other.example.com", "--type=merge",
                                           "-p", '{"metadata":{"labels":{"a":"b"}}}'))
        assert _forbidden(operator.kubectl("get", vwc, "other.example.com"))
        assert _forbidden(operator.kubectl("get", vwc))  # list
        assert _forbidden(operator.kubectl("delete", vwc, "validation.lgcron.io"))
        assert _forbidden(operator.kubectl("create", "-f", "-", stdin=yaml.safe_dump(mutating)))
        assert _forbidden(operator.kubectl("get", "mutatingwebhookconfiguration", "validation.lgcron.io"))

        operator.ok("create", "-f", "-", stdin=yaml.safe_dump(secret))
        current = json.loads(operator.ok("-n", "lgcron-system", "get", "secret", "lgcron-webhook-tls", "-o", "json"))
        current["stringData"] = {"ca.crt": "renewed"}
        operator.ok("replace", "-f", "-", stdin=json.dumps(current))  # a PUT at its resourceVersion, as a renewal
        elsewhere = {**secret, "metadata": {"name": "lgcron-webhook-tls", "namespace": "team-a"}}
        admin.ok("apply", "-f", "-", stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": "team-a"}}))
        assert _forbidden(operator.kubectl("create", "-f", "-", stdin=yaml.safe_dump(elsewhere)))
        admin.ok("-n", "lgcron-system", "create", "secret", "generic", "lgcron-api-key", "--from-literal=apiKey=k")
        another = json.loads(operator.ok("-n", "lgcron-system", "get", "secret", "lgcron-api-key", "-o", "json"))
        another["stringData"] = {"apiKey": "changed"}
        assert _forbidden(operator.kubectl("replace", "-f", "-", stdin=json.dumps(another)))
        assert _forbidden(operator.kubectl("-n", "lgcron-system", "get", "secrets"))  # list
        assert _forbidden(operator.kubectl("-n", "lgcron-system", "delete", "secret", "lgcron-webhook-tls"))
    finally:
        admin.kubectl("delete", vwc, "validation.lgcron.io", "other.example.com", "--ignore-not-found")
        admin.kubectl("-n", "lgcron-system", "delete", "secret", "lgcron-webhook-tls", "lgcron-api-key",
                      "--ignore-not-found")

