"""`kubectl kustomize manifests/` (offline) builds a complete, least-privilege, hardened install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
import langgraph_cron
from langgraph_cron.core.crd import all_crds

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


def test_installs_namespace_crds_rbac_and_deployment(docs):
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        ["Namespace", *["CustomResourceDefinition"] * len(CRD_FILES), "ServiceAccount", "ClusterRole"]
        + ["ClusterRoleBinding", "Deployment"]
    )
    assert sorted(_crds(docs)) == [
        "clusterlanggraphservers.lgcron.io",
        "langgraphcrons.lgcron.io",
        "langgraphservers.lgcron.io",
    ]
    assert _one(docs, "Namespace")["metadata"]["name"] == "lgcron-system"
    for doc in docs:
        if doc["kind"] in ("ServiceAccount", "Deployment"):
            assert doc["metadata"]["namespace"] == "lgcron-system"


def test_crds_are_the_generated_ones_unchanged(docs):
    """`namespace: lgcron-system` in the kustomization must not touch them (the cluster-scoped one least of all)."""
    committed = [yaml.safe_load((ROOT / "crds" / name).read_text()) for name in CRD_FILES]
    assert _crds(docs) == {crd["metadata"]["name"]: crd for crd in committed}
    assert _crds(docs) == {crd["metadata"]["name"]: crd for crd in all_crds().values()}  # and to the models
    for crd in _crds(docs).values():
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
}


def test_rbac_grants_exactly_what_the_operator_and_kopf_use(docs):
    granted: dict[tuple, set[str]] = {}
    for rule in _rules(docs):
        names = (tuple(rule["resourceNames"]),) if rule.get("resourceNames") else ()
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource, *names), set()).update(rule["verbs"])
    assert granted == EXPECTED_GRANTS


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
    for resource in ("secrets", "configmaps"):
        rules = [rule for rule in _rules(docs) if resource in rule["resources"]]
        assert rules and all(rule["verbs"] == ["get"] for rule in rules), resource


def test_no_write_verbs_on_anything_but_the_operators_own_objects(docs):
    """Writes only where the operator must write: its resources' metadata/status, Events and the cronJob backend."""
    writers = {"lgcron.io", "events.k8s.io", "batch", "kopf.dev"}
    for rule in _rules(docs):
        if set(rule["verbs"]) & {"create", "update", "patch", "delete", "deletecollection"}:
            assert set(rule["apiGroups"]) <= writers or rule["resources"] == ["events"], rule


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
    assert "LGCRON_SERVER_URL" in env and "LGCRON_RESYNC_INTERVAL" in env
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


# ---------------------------------------------------------------- on a real apiserver (tests/packaging/conftest.py)

OPERATOR = "system:serviceaccount:lgcron-system:langgraph-cron-operator"


def test_the_install_applies_and_rbac_allows_exactly_what_it_should(docs, crds_installed):
    """`kubectl apply` of the whole build, then `kubectl auth can-i --as` the operator's ServiceAccount."""
    crds_installed.ok("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def can(verb: str, resource: str, *extra: str) -> bool:
        result = crds_installed.kubectl("auth", "can-i", verb, resource, "--as", OPERATOR, *extra)
        assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
        return result.stdout.strip() == "yes"

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
