"""examples/kustomize-overlay/: the GitOps-clean kustomize install (server URL and API key Secret declared,
no empty env values, a second apply changes nothing), and manifests/monitoring/, the Component that turns
on metrics with a Service and a ServiceMonitor for the Prometheus Operator."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.packaging.conftest import Apiserver

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "examples" / "kustomize-overlay"
MONITORING = ROOT / "manifests" / "monitoring"
KEY_FILE = "lgcron-api-key.env"
SERVER_URL = "https://my-deployment.example.com"


def _copy(tmp_path: Path, monitoring: bool = False) -> Path:
    """The overlay as a user has it: lgcron-api-key.env created from the example (it is never committed);
    ../../manifests still resolves. monitoring: with the Component added, as its comment says."""
    overlay = shutil.copytree(OVERLAY, tmp_path / "examples" / "kustomize-overlay")
    (tmp_path / "manifests").symlink_to(ROOT / "manifests", target_is_directory=True)
    (overlay / KEY_FILE).write_text((overlay / f"{KEY_FILE}.example").read_text())
    if monitoring:
        text = (overlay / "kustomization.yaml").read_text()
        commented = "# components:\n#   - ../../manifests/monitoring\n"
        assert commented in text, "the overlay's commented-out monitoring Component is gone"
        (overlay / "kustomization.yaml").write_text(text.replace(commented, "components:\n  - ../../manifests/monitoring\n"))
    return overlay


def _build(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it is needed to build the overlay with kustomize")
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _one(docs, kind, name=None):
    [found] = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def _container(docs):
    [container] = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _env(docs):
    return {e["name"]: e for e in _container(docs)["env"]}


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> list[dict]:
    return _build(_copy(tmp_path_factory.mktemp("overlay")))


@pytest.fixture(scope="module")
def monitored(tmp_path_factory) -> list[dict]:
    return _build(_copy(tmp_path_factory.mktemp("monitored"), monitoring=True))


# ---------------------------------------------------------------- the overlay, offline


def test_the_overlay_sets_the_server_url(docs):
    assert _env(docs)["LGCRON_SERVER_URL"] == {"name": "LGCRON_SERVER_URL", "value": SERVER_URL}


def test_the_overlay_generates_the_api_key_secret_the_deployment_reads(docs):
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    assert secret["metadata"]["name"].startswith("lgcron-api-key-")  # kustomize's content hash
    assert secret["metadata"]["namespace"] == _one(docs, "Deployment")["metadata"]["namespace"] == "lgcron-system"
    assert set(secret["data"]) == {"apiKey"}
    ref = _env(docs)["LGCRON_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], "apiKey")


def test_the_key_file_is_never_committed():
    assert KEY_FILE in (OVERLAY / ".gitignore").read_text().split()
    assert not (OVERLAY / KEY_FILE).exists() or subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", str(OVERLAY / KEY_FILE)], check=False).returncode == 0


@pytest.mark.parametrize("build", ["docs", "monitored"])
def test_no_env_entry_is_an_empty_value(build, request):
    """The apiserver stores no `value: ""`: each apply would report "configured" and Argo CD diff for ever."""
    for entry in _container(request.getfixturevalue(build))["env"]:
        assert entry.get("value") != "" and ("value" in entry or "valueFrom" in entry), entry


def test_the_overlay_leaves_the_crds_to_their_own_step(docs):
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]


# ---------------------------------------------------------------- manifests/monitoring, offline


def test_monitoring_is_a_component_an_overlay_adds():
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    assert "../../manifests/monitoring" in (OVERLAY / "kustomization.yaml").read_text()


def test_monitoring_turns_on_metrics_on_the_port_the_service_targets(monitored):
    env, container = _env(monitored), _container(monitored)
    port = int(env["LGCRON_METRICS_PORT"]["value"])
    assert env["LGCRON_METRICS_ADDRESS"]["value"] == "0.0.0.0"
    assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container["ports"]
    service = _one(monitored, "Service", "lgcron-metrics")
    assert service["metadata"]["namespace"] == "lgcron-system"
    pod = _one(monitored, "Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [service_port] = service["spec"]["ports"]
    assert service_port["name"] == "metrics" and service_port["targetPort"] == "metrics"
    # The other ports are as before: the patch added one.
    assert {p["name"] for p in container["ports"]} == {"health", "webhook", "metrics"}


def test_the_service_monitor_selects_the_metrics_service_only_and_scrapes_its_port(monitored):
    monitor = _one(monitored, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["namespace"] == "lgcron-system"
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [d for d in monitored if d["kind"] == "Service" and selector.items() <= d["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in services] == ["lgcron-metrics"], "not the webhook Service"
    ports = {p["name"] for p in services[0]["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports and endpoint["path"] == "/metrics"


def test_the_component_carries_the_prometheus_rule_unchanged(monitored):
    [rule_file] = [d for d in yaml.safe_load_all((MONITORING / "prometheusrule.yaml").read_text()) if d]
    rule = _one(monitored, "PrometheusRule")
    assert rule["spec"] == rule_file["spec"] and rule["metadata"]["namespace"] == "lgcron-system"


def test_without_the_component_no_metrics(docs):
    assert "LGCRON_METRICS_PORT" not in _env(docs)
    assert not [d for d in docs if d["kind"] in ("ServiceMonitor", "PrometheusRule")]


# ---------------------------------------------------------------- on a private control plane (conftest.py)


def _apply(apiserver: Apiserver, overlay: Path) -> list[str]:
    return apiserver.ok("apply", "-k", str(overlay)).splitlines()


def test_applying_the_overlay_twice_reports_every_object_unchanged(crds_installed, tmp_path):
    """kubectl apply -k crds/ (the fixture), then the overlay twice: the second apply changes nothing, so a
    GitOps tool sees no drift. (The Prometheus Operator's CRDs are not on the control plane: the monitoring
    Component is checked offline above.)"""
    overlay = _copy(tmp_path)
    first = _apply(crds_installed, overlay)
    assert len(first) == len(_build(overlay)), first
    second = _apply(crds_installed, overlay)
    assert second and all(line.endswith(" unchanged") for line in second), "\n".join(second)
    assert sorted(line.split()[0] for line in second) == sorted(line.split()[0] for line in first)


def test_the_readme_states_the_secret_step_and_the_overlay():
    readme = (ROOT / "README.md").read_text()
    assert "create secret generic lgcron-api-key --from-literal=apiKey=" in readme
    assert "kubectl apply -k examples/kustomize-overlay/" in readme and "components: [../../manifests/monitoring]" in readme
