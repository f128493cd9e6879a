"""A private control plane of one test's own, installed as the README says (`kubectl apply -k crds/`),
for the uninstall and upgrade tests: they delete or replace the CRDs, which the session's other tests share.

A test module overrides conftest's `kubeconfig_path` with `own_control_plane_kubeconfig`, so the
`namespace`, `kube`, `run_operator` and `operator` fixtures all run against it."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
import yaml
from control_plane import ControlPlane
from kube_test_api import KUBEBUILDER_ASSETS, TEST_KUBECONFIG

ROOT = Path(__file__).resolve().parents[2]
CRD_NAMES = ("langgraphcrons.lgcron.io", "langgraphservers.lgcron.io", "clusterlanggraphservers.lgcron.io")

SKIP_REASON = ("needs a private control plane (KUBEBUILDER_ASSETS=$(../shared/k8s/unpack)): it deletes or replaces "
               "the lgcron.io CRDs, which kmock cannot meaningfully do and a shared cluster's other users need")
requires_private_control_plane = pytest.mark.skipif(not KUBEBUILDER_ASSETS or bool(TEST_KUBECONFIG),
                                                    reason=SKIP_REASON)


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run([shutil.which("kubectl") or "kubectl", "--kubeconfig", str(kubeconfig), *args],
                            input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def apply_crds(kubeconfig: Path, source: Path = ROOT / "crds") -> None:
    """The install's first step, `kubectl apply -k crds/` (or a kept copy of an older release's), Established."""
    kubectl(kubeconfig, "apply", "-k" if (source / "Kustomization").exists()
            or (source / "kustomization.yaml").exists() else "-f", str(source))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in CRD_NAMES])


@contextlib.contextmanager
def own_control_plane_kubeconfig(monkeypatch: pytest.MonkeyPatch, crds: Path | None = ROOT / "crds") -> Iterator[Path]:
    if not KUBEBUILDER_ASSETS or TEST_KUBECONFIG:
        pytest.skip(SKIP_REASON)
    with ControlPlane.from_assets(KUBEBUILDER_ASSETS) as plane:
        if crds is not None:
            apply_crds(plane.kubeconfig, crds)
        monkeypatch.setenv("KUBECONFIG", str(plane.kubeconfig))
        monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(plane.kubeconfig))
        yield plane.kubeconfig


def service_account_kubeconfig(admin_kubeconfig: Path, namespace: str, account: str, path: Path) -> Path:
    """A Pod's credentials: a kubeconfig at `path` with a ServiceAccount's token (valid four hours: a whole
    test session), for the cluster of the admin kubeconfig's current context."""
    token = kubectl(admin_kubeconfig, "-n", namespace, "create", "token", account, "--duration=4h").strip()
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "pod",
        "clusters": [{"name": "pod", "cluster": cluster}],
        "users": [{"name": "pod", "user": {"token": token}}],
        "contexts": [{"name": "pod", "context": {"cluster": "pod", "user": "pod"}}],
    }))
    return path


async def exists(kube, path: str) -> bool:
    """Whether the object at this API path exists (404: no)."""
    try:
        await kube.call("GET", path)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
