"""crds/ works both as `kubectl apply -f crds/` and as `kubectl apply -k crds/`.

`kubectl apply -f DIR` reads every file of DIR whose name ends in .json, .yaml or .yml and sends each
document to the apiserver, so a `kustomization.yaml` there fails ("no matches for kind Kustomization":
it is kustomize's file, not a Kubernetes object). kustomize also accepts the name `Kustomization`,
which `-f` skips: that is the name crds/ uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
KUBECTL_EXTENSIONS = (".json", ".yaml", ".yml")  # cli-runtime's FileExtensions for a directory given to -f
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # what kustomize looks for
KUBECONFIG_ENV = "LGCRON_TEST_KUBECONFIG"


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


@pytest.mark.parametrize("flag", ["-f", "-k"])
def test_server_dry_run_apply_of_crds_folder(flag):
    """Against a real apiserver, opt in: LGCRON_TEST_KUBECONFIG names its kubeconfig (allowed to create CRDs)."""
    kubeconfig = os.environ.get(KUBECONFIG_ENV)
    if not kubeconfig:
        pytest.skip(f"{KUBECONFIG_ENV} is not set: set it to a kubeconfig of a disposable cluster to dry-run this")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(f"kubectl is not installed: it is needed for `kubectl apply --dry-run=server {flag} crds/`")
    command = [kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", flag, str(CRDS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"
    names = sorted(doc["metadata"]["name"] for path in kubectl_reads() for doc in documents(path))
    for name in names:
        assert f"customresourcedefinition.apiextensions.k8s.io/{name} " in result.stdout, result.stdout
    assert "(server dry run)" in result.stdout
