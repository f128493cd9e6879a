"""The chart's monitoring objects (metrics Service, ServiceMonitor, PodMonitor) and its Helm conventions
(kubeVersion, PodDisruptionBudget, priorityClassName, topology spread, serviceAccount.automount, extraEnv
typed as strings), rendered by Helm's own engine (helm-python-sdk)."""

from __future__ import annotations

import helm_python as helm
import pytest
import yaml

from tests.packaging.test_chart_render import CHART, _container, _env, _one, render

METRICS = {"enabled": True, "port": 9191}


def _kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def _pod(docs):
    return _one(docs, "Deployment")["spec"]["template"]


# ---------------------------------------------------------------- monitoring


def test_no_metrics_objects_by_default():
    docs, _ = render()
    assert not [d for d in docs if d["kind"] in ("ServiceMonitor", "PodMonitor")]
    assert not [d for d in _kind(docs, "Service") if d["metadata"]["name"].endswith("-metrics")]
    assert "LGCRON_METRICS_ADDRESS" not in _env(docs)


def test_metrics_service_selects_the_operators_pods_and_targets_their_metrics_port():
    docs, _ = render({"metrics": {**METRICS, "address": "::", "service": {"port": 8443}}})
    [service] = [d for d in _kind(docs, "Service") if d["metadata"]["name"] == "lgc-langgraph-cron-operator-metrics"]
    assert service["metadata"]["namespace"] == "lgcron-system"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8443, "targetPort": "metrics", "protocol": "TCP"}]
    pod = _pod(docs)
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"] == _one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert {"name": "metrics", "containerPort": 9191, "protocol": "TCP"} in _container(docs)["ports"]
    env = _env(docs)
    assert env["LGCRON_METRICS_PORT"]["value"] == "9191" and env["LGCRON_METRICS_ADDRESS"]["value"] == "::"


def test_service_monitor_selects_the_metrics_service_by_its_labels_and_port_name():
    values = {"metrics": {**METRICS, "serviceMonitor": {
        "enabled": True, "interval": "30s", "scrapeTimeout": "10s", "labels": {"release": "kube-prometheus-stack"}}}}
    docs, _ = render(values)
    [monitor] = _kind(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["namespace"] == "lgcron-system"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["lgcron-system"]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    # It selects the metrics Service and no other (the webhook Service carries the same selector labels).
    services = [d for d in _kind(docs, "Service") if selector.items() <= d["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in services] == ["lgc-langgraph-cron-operator-metrics"]
    port_names = {p["name"] for p in services[0]["spec"]["ports"]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s",
                                            "scrapeTimeout": "10s"}]
    assert "metrics" in port_names
    assert not _kind(docs, "PodMonitor")


def test_pod_monitor_selects_the_operators_pods_and_their_metrics_port():
    docs, _ = render({"metrics": {**METRICS, "podMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    [monitor] = _kind(docs, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["lgcron-system"]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= _pod(docs)["metadata"]["labels"].items()
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics"}]
    assert "metrics" in {p["name"] for p in _container(docs)["ports"]}
    assert not _kind(docs, "ServiceMonitor")


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
def test_a_monitor_without_metrics_enabled_is_refused(monitor):
    with pytest.raises(helm.HelmRenderError, match="need metrics.enabled=true"):
        render({"metrics": {"enabled": False, "port": 9090, monitor: {"enabled": True}}})


def test_monitoring_lints_clean():
    values = {"metrics": {**METRICS, "serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True},
                          "prometheusRule": {"enabled": True, "failingAfter": 3}}}
    report = helm.lint(str(CHART), values, strict=True)
    assert not [m for m in report["messages"] if m["severity"] >= 2] and not report["errors"], report


# ---------------------------------------------------------------- Chart.yaml


def test_chart_declares_kube_version_home_and_sources():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    # The CRDs' CEL rules use fieldPath and reason (1.28); -0 admits vendor builds such as v1.28.3-eks-1.
    assert chart["kubeVersion"] == ">=1.28.0-0"
    assert chart["home"].startswith("https://") and chart["sources"] and all(
        s.startswith("https://") for s in chart["sources"])


# ---------------------------------------------------------------- Pod placement and disruption


def test_no_pod_disruption_budget_for_one_replica():
    for values in ({}, {"replicaCount": 1, "podDisruptionBudget": {"enabled": True}}):
        assert not _kind(render(values)[0], "PodDisruptionBudget")


def test_pod_disruption_budget_with_several_replicas_selects_their_pods():
    docs, _ = render({"replicaCount": 2})
    [pdb] = _kind(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1" and pdb["metadata"]["namespace"] == "lgcron-system"
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"] == _one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    [pdb] = _kind(render({"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}})[0],
                  "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": "50%", "selector": pdb["spec"]["selector"]}
    assert not _kind(render({"replicaCount": 2, "podDisruptionBudget": {"enabled": False}})[0], "PodDisruptionBudget")


def test_priority_class_and_topology_spread_reach_the_pod():
    spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "langgraph-cron-operator"}}}]
    docs, _ = render({"replicaCount": 2, "priorityClassName": "system-cluster-critical",
                      "topologySpreadConstraints": spread})
    pod = _pod(docs)["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical" and pod["topologySpreadConstraints"] == spread
    pod = _pod(render()[0])["spec"]
    assert "priorityClassName" not in pod and "topologySpreadConstraints" not in pod


def test_service_account_automount_is_the_accounts_and_the_operator_pod_always_mounts():
    docs, _ = render()
    assert _one(docs, "ServiceAccount")["automountServiceAccountToken"] is True
    docs, _ = render({"serviceAccount": {"create": True, "automount": False}})
    assert _one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    assert _pod(docs)["spec"]["automountServiceAccountToken"] is True


# ---------------------------------------------------------------- the schema


@pytest.mark.parametrize(
    ("values", "where"),
    [
        # `--set extraEnv[0].value=600` parses as a number: the apiserver would refuse the Deployment.
        ({"extraEnv": [{"name": "LGCRON_REQUEST_TIMEOUT", "value": 600}]}, "/extraEnv/0/value"),
        ({"extraEnv": [{"name": "LGCRON_INSECURE_SKIP_VERIFY", "value": True}]}, "extraEnv"),
        ({"extraEnv": [{"name": "X", "value": "1", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
         "extraEnv"),
        ({"extraEnv": [{"name": "X", "valu": "1"}]}, "extraEnv"),
        ({"metrics": {"enabled": True, "port": 9090, "serviceMonitor": {"enabled": True, "interval": "30"}}},
         "interval"),
        ({"metrics": {"enabled": True, "port": 9090, "address": ""}}, "address"),
        ({"podDisruptionBudget": {"enabled": True, "minAvailable": "half"}}, "minAvailable"),
        ({"serviceAccount": {"create": True, "automount": "no"}}, "automount"),
        ({"topologySpreadConstraints": [{"maxSkew": 1}]}, "topologySpreadConstraints"),
    ],
)
def test_helm_refuses_bad_values(values, where):
    """Helm's own schema validation (what `helm install` runs) refuses them, naming the value."""
    with pytest.raises(helm.HelmValuesError, match=where):
        render(values)


def test_extra_env_strings_and_value_from_pass():
    docs, _ = render({"extraEnv": [
        {"name": "LGCRON_REQUEST_TIMEOUT", "value": "600"},
        {"name": "LGCRON_CLUSTER_ID", "valueFrom": {"configMapKeyRef": {"name": "cluster", "key": "id"}}},
    ]})
    env = _env(docs)
    assert env["LGCRON_REQUEST_TIMEOUT"]["value"] == "600"
    assert env["LGCRON_CLUSTER_ID"]["valueFrom"]["configMapKeyRef"]["name"] == "cluster"


def test_set_of_a_number_is_refused_and_set_string_passes():
    """`--set extraEnv[0].value=600` (a number, as Helm parses --set) is refused before anything is applied;
    `--set-string` makes it the string the apiserver wants."""
    with pytest.raises(helm.HelmValuesError, match="/extraEnv/0/value"):
        render(helm.parse_set_string("extraEnv[0].name=LGCRON_REQUEST_TIMEOUT,extraEnv[0].value=600"))
    values = helm.parse_set_string_values("extraEnv[0].name=LGCRON_REQUEST_TIMEOUT,extraEnv[0].value=600")
    assert _env(render(values)[0])["LGCRON_REQUEST_TIMEOUT"]["value"] == "600"


# ---------------------------------------------------------------- defaultServer with GitOps


def test_waiting_default_server_notes_say_how_gitops_needs_no_second_upgrade():
    _, notes = render({"defaultServer": {"create": True, "url": "https://agents.example.com"}})
    assert "not created yet" in notes and "With Flux or Argo CD" in notes and "crds.install=false" in notes
    readme = (CHART / "README.md").read_text()
    for words in ("dependsOn", "sync-wave", "crds: {install: false}"):
        assert words in readme, words


def test_with_crds_installed_separately_the_default_server_is_in_the_first_render():
    """What the GitOps recipe relies on: crds.install=false renders the object at once, no Capabilities gate."""
    docs, notes = render({"crds": {"install": False}, "defaultServer": {"create": True,
                                                                       "url": "https://agents.example.com"}})
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterLangGraphServer"] == ["default"]
    assert "not created yet" not in notes
