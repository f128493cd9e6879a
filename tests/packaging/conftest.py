"""A real apiserver for the packaging tests that need one, when there is one; skipped otherwise.

`apiserver` is LGCRON_TEST_KUBECONFIG's cluster (only ever dry-run against: it may be someone's) or, with
KUBEBUILDER_ASSETS set (etcd and kube-apiserver binaries, the envtest convention), a private control plane
of this run (tests/operator/control_plane.py), on which `crds_installed` really installs crds/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG_ENV = "LGCRON_TEST_KUBECONFIG"


@dataclass(frozen=True)
class Apiserver:
    kubeconfig: Path
    private: bool  # a control plane of this run: objects may be created for real
    kubectl_binary: str

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        # A fresh discovery cache for each call: a cached one from before a CRD was established would not
        # know its kinds ("the server doesn't have a resource type").
        with tempfile.TemporaryDirectory(prefix="kubectl-cache-") as cache:
            command = [self.kubectl_binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", cache, *args]
            return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self.kubectl(*args, stdin=stdin)
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture(scope="session")
def apiserver() -> Iterator[Apiserver]:
    kubectl = shutil.which("kubectl")
    kubeconfig, assets = os.environ.get(KUBECONFIG_ENV), os.environ.get("KUBEBUILDER_ASSETS")
    if not kubeconfig and not assets:
        pytest.skip(f"neither {KUBECONFIG_ENV} nor KUBEBUILDER_ASSETS is set: no apiserver to check against")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    if kubeconfig:
        yield Apiserver(Path(kubeconfig), private=False, kubectl_binary=kubectl)
        return
    from tests.operator.control_plane import ControlPlane

    with ControlPlane.from_assets(assets, controller_manager=False) as plane:
        yield Apiserver(plane.kubeconfig, private=True, kubectl_binary=kubectl)


def crd_names() -> list[str]:
    return sorted(
        doc["metadata"]["name"]
        for path in (ROOT / "crds").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    )


@pytest.fixture(scope="session")
def crds_installed(apiserver: Apiserver) -> Apiserver:
    """crds/ installed (`kubectl apply -k crds/`) and Established, on a private control plane only."""
    if not apiserver.private:
        pytest.skip(f"creates CRDs: only on a private control plane (KUBEBUILDER_ASSETS), not on {KUBECONFIG_ENV}'s")
    apiserver.ok("apply", "-k", str(ROOT / "crds"))
    apiserver.ok("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{name}" for name in crd_names()])
    return apiserver
