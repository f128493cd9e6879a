"""crds/ works both as `kubectl apply -f crds/` and as `kubectl apply -k crds/`.

`kubectl apply -f DIR` reads every file of DIR whose name ends in .json, .yaml or .yml and sends each
document to the apiserver, so a `kustomization.yaml` there fails ("no matches for kind Kustomization":
it is kustomize's file, not a Kubernetes object). kustomize also accepts the name `Kustomization`,
which `-f` skips: that is the name crds/ uses.

crds/ holds the three generated CRDs: LangGraphCron, LangGraphServer and ClusterLangGraphServer. With
an apiserver (conftest.py: LGCRON_TEST_KUBECONFIG, or KUBEBUILDER_ASSETS for a private control plane)
they are also dry-run applied both ways, and on a private control plane installed for real: then
`kubectl explain` has a description for every field, and short names and printer columns work.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from langgraph_cron.core.crd import all_crds

from tests.packaging.conftest import Apiserver, crd_names

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
KUBECTL_EXTENSIONS = (".json", ".yaml", ".yml")  # cli-runtime's FileExtensions for a directory given to -f
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # what kustomize looks for


def kubectl_reads() -> list[Path]:
    """The files `kubectl apply -f crds/` reads: regular files directly in it with one of kubectl's extensions."""
    return sorted(p for p in CRDS.iterdir() if p.is_file() and p.suffix in KUBECTL_EXTENSIONS)


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]  # JSON is YAML too


def kustomization() -> tuple[Path, dict]:
    found = [CRDS / name for name in KUSTOMIZATION_NAMES if (CRDS / name).is_file()]
    assert len(found) == 1, f"kustomize needs exactly one of {KUSTOMIZATION_NAMES} in crds/, found {found}"
    return found[0], yaml.safe_load(found[0].read_text())


def test_every_file_kubectl_apply_f_reads_holds_only_crds():
    files = kubectl_reads()
    assert files, "crds/ has no file `kubectl apply -f crds/` would read"
    for path in files:
        docs = documents(path)
        assert docs, f"{path.name}: no documents"
        for doc in docs:
            assert isinstance(doc, dict), f"{path.name}: a document that is not an object"
            kind = (doc.get("apiVersion"), doc.get("kind"))
            assert kind == ("apiextensions.k8s.io/v1", "CustomResourceDefinition"), (
                f"{path.name}: {'/'.join(map(str, kind))} is no CRD, so `kubectl apply -f crds/` fails on it"
            )
            assert doc.get("metadata", {}).get("name"), f"{path.name}: a CRD without metadata.name"


def test_crds_folder_holds_exactly_the_generated_crds():
    """Every CRD the models generate is a file here (so `-f` and `-k` install all three), and nothing else."""
    assert [p.name for p in kubectl_reads()] == sorted(all_crds())
    for path in kubectl_reads():
        [doc] = documents(path)
        assert doc == all_crds()[path.name], f"{path.name} is stale: run `python -m langgraph_cron.core.crd --write`"
    assert crd_names() == [
        "clusterlanggraphservers.lgcron.io",
        "langgraphcrons.lgcron.io",
        "langgraphservers.lgcron.io",
    ]


def test_kustomization_is_invisible_to_kubectl_apply_f_and_lists_exactly_the_crd_files():
    path, kustomization_doc = kustomization()
    assert path.suffix not in KUBECTL_EXTENSIONS, f"`kubectl apply -f crds/` would read {path.name}"
    assert kustomization_doc["kind"] == "Kustomization"
    assert sorted(kustomization_doc["resources"]) == [p.name for p in kubectl_reads()]
    # Nothing that would make `-k` differ from `-f`: no patches, generators, name prefixes or labels.
    assert set(kustomization_doc) <= {"apiVersion", "kind", "resources"}, sorted(kustomization_doc)


def test_kubectl_kustomize_builds_the_same_crds_as_the_files():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it is needed to build crds/ with `kubectl kustomize` (offline)")
    result = subprocess.run([kubectl, "kustomize", str(CRDS)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    from_files = [doc for path in kubectl_reads() for doc in documents(path)]

    def by_name(docs: list[dict]) -> dict[str, dict]:
        return {doc["metadata"]["name"]: doc for doc in docs}

    assert len(built) == len(from_files) and by_name(built) == by_name(from_files)
    assert sorted(by_name(built)) == crd_names()


@pytest.mark.parametrize("flag", ["-f", "-k"])
def test_server_dry_run_apply_of_crds_folder(flag, apiserver: Apiserver):
    """The apiserver accepts every CRD of the folder (it rejects a CRD whose schema it cannot decode)."""
    result = apiserver.kubectl("apply", "--dry-run=server", flag, str(CRDS))
    assert result.returncode == 0, f"kubectl apply --dry-run=server {flag} crds/:\n{result.stdout}{result.stderr}"
    for name in crd_names():
        assert f"customresourcedefinition.apiextensions.k8s.io/{name} " in result.stdout, result.stdout
    assert "(server dry run)" in result.stdout


# ---------------------------------------------------------------- installed on a private control plane

KINDS = {  # kind -> (plural, short names, namespaced)
    "LangGraphCron": ("langgraphcrons", ["lgcron", "lgc"], True),
    "LangGraphServer": ("langgraphservers", ["lgs"], True),
    "ClusterLangGraphServer": ("clusterlanggraphservers", ["clgs"], False),
}


def _undescribed(node: dict, path: str) -> list[str]:
    """Fields under node (an OpenAPI v3 schema as the apiserver publishes it) that have no description."""
    missing = []
    for name, child in (node.get("properties") or {}).items():
        if not child.get("description"):
            missing.append(f"{path}.{name}")
        missing += _undescribed(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        missing += _undescribed(node["items"], path)
    return missing


def test_published_openapi_describes_every_field_of_every_kind(crds_installed: Apiserver):
    """What `kubectl explain` reads (the apiserver's OpenAPI v3): a description on every spec and status field."""
    # The apiserver publishes a new CRD's OpenAPI a few seconds after it is Established.
    deadline = time.monotonic() + 60
    while (result := crds_installed.kubectl("get", "--raw", "/openapi/v3/apis/lgcron.io/v1alpha1")).returncode:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
    published = json.loads(result.stdout)
    schemas = published["components"]["schemas"]
    for kind in KINDS:
        schema = schemas[f"io.lgcron.v1alpha1.{kind}"]
        for part in ("spec", "status"):
            assert schema["properties"][part].get("description"), f"{kind}.{part}"
            assert not _undescribed(schema["properties"][part], f"{kind}.{part}")
    # The walk goes deep: nested fields are published inline, not as references.
    conditions = schemas["io.lgcron.v1alpha1.ClusterLangGraphServer"]["properties"]["spec"]["properties"]["conditions"]
    selector = conditions["items"]["properties"]["namespaceSelector"]
    assert selector["properties"]["matchExpressions"]["items"]["properties"]["operator"]["description"]


@pytest.mark.parametrize(
    ("path", "model_path"),
    [
        ("langgraphservers.spec.url", ("spec", "url")),
        ("lgs.spec.apiKeySecretRef.key", ("spec", "apiKeySecretRef", "key")),
        ("lgs.status.boundUrls", ("status", "boundUrls")),
        ("clgs.spec.apiKeySecretRef.namespace", ("spec", "apiKeySecretRef", "namespace")),
        ("clgs.spec.conditions.namespaceSelector", ("spec", "conditions", "namespaceSelector")),
        ("clgs.spec.conditions.namespaceRegexes", ("spec", "conditions", "namespaceRegexes")),
        ("clusterlanggraphservers.status.inUseBy", ("status", "inUseBy")),
        ("lgcron.spec.serverRef.kind", ("spec", "serverRef", "kind")),
    ],
)
def test_kubectl_explain_prints_the_models_description(crds_installed: Apiserver, path, model_path):
    resource = path.split(".", 1)[0]
    kind = next(k for k, (plural, short, _) in KINDS.items() if resource in (plural, *short))
    file = {"LangGraphCron": "langgraphcron.yaml", "LangGraphServer": "langgraphserver.yaml"}.get(
        kind, "clusterlanggraphserver.yaml"
    )
    node = all_crds()[file]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in model_path:
        if "properties" not in node:  # a list of objects: its fields are its items'
            node = node["items"]
        node = node["properties"][part]
    explained = crds_installed.ok("explain", path)
    assert f"KIND:       {kind}" in explained
    # kubectl wraps descriptions at 80 columns: compare the words.
    assert " ".join(node["description"].split()) in " ".join(explained.split()), explained


def test_short_names_and_scope_as_discovery_serves_them(crds_installed: Apiserver):
    rows = crds_installed.ok("api-resources", "--api-group=lgcron.io", "--no-headers", "-o", "wide").splitlines()
    served = {}
    for row in rows:
        # NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS CATEGORIES
        name, short, _, namespaced, kind, *_ = row.split()
        served[kind] = (name, short.split(","), namespaced == "true")
    assert served == KINDS


def test_printer_columns_of_the_server_kinds(crds_installed: Apiserver):
    objects = textwrap.dedent(
        """
        apiVersion: lgcron.io/v1alpha1
        kind: ClusterLangGraphServer
        metadata: {name: packaging-columns}
        spec:
          url: https://agents.example.com
          apiKeySecretRef: {name: key, key: apiKey, namespace: default}
          conditions: [{namespaceRegexes: [".*"]}]
        ---
        apiVersion: lgcron.io/v1alpha1
        kind: LangGraphServer
        metadata: {name: packaging-columns, namespace: default}
        spec: {url: https://agents.example.com, maxConcurrentRequests: 4, requestTimeoutSeconds: 2.5}
        """
    )
    crds_installed.ok("apply", "-f", "-", stdin=objects)
    try:
        for resource in ("clgs", "lgs"):
            header, row = crds_installed.ok("get", resource, "packaging-columns", "-n", "default").splitlines()
            assert header.split() == ["NAME", "URL", "READY", "CRONS", "VERSION", "AGE"]
            assert row.split()[:2] == ["packaging-columns", "https://agents.example.com"]
            wide = crds_installed.ok("get", resource, "packaging-columns", "-n", "default", "-o", "wide")
            assert wide.splitlines()[0].split() == ["NAME", "URL", "READY", "CRONS", "VERSION", "REASON", "AGE"]
    finally:
        crds_installed.kubectl("delete", "-f", "-", "--wait=false", stdin=objects)


@pytest.mark.parametrize(
    ("kind", "spec", "complaint"),
    [
        ("LangGraphServer", {"url": "ftp://agents.example.com"}, "spec.url"),
        ("LangGraphServer", {"url": "https://a.example.com", "requestTimeoutSeconds": 0}, "requestTimeoutSeconds"),
        ("LangGraphServer", {"url": "https://a.example.com", "maxConcurrentRequests": 0}, "maxConcurrentRequests"),
        ("LangGraphServer", {"apiKeySecretRef": {"name": "k", "key": "apiKey"}}, "spec.url"),
        (
            "ClusterLangGraphServer",
            {"url": "https://a.example.com", "apiKeySecretRef": {"name": "k", "key": "apiKey"}},
            "namespace",
        ),
        (
            "ClusterLangGraphServer",
            {"url": "https://a.example.com", "conditions": [{"namespaceSelector": {"matchExpressions": [
                {"key": "team", "operator": "Like"}]}}]},
            "operator",
        ),
    ],
)
def test_the_apiserver_rejects_bad_server_objects(crds_installed: Apiserver, kind, spec, complaint):
    metadata = {"name": "packaging-bad"} | ({"namespace": "default"} if KINDS[kind][2] else {})
    obj = {"apiVersion": "lgcron.io/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec}
    result = crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(obj))
    assert result.returncode != 0 and complaint in result.stderr, result.stdout + result.stderr
