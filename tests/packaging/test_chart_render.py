"""The Helm chart rendered by Helm's own Go engine (helm-python-sdk embeds it), for each mode it supports."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import helm_python as helm  # helm-python-sdk, in the test extra
import pytest
import yaml
import langgraph_cron
from langgraph_cron.core.webhook import WebhookSettings

from tests.packaging import kubelet

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "langgraph-cron-operator"
VERSION = langgraph_cron.__version__  # the one place (pyproject reads it too)
IMAGE = f"ghcr.io/lgcron/langgraph-cron-operator:{VERSION}"
LIVENESS = "--liveness=http://0.0.0.0:8080/healthz"


def render(values: dict | None = None, chart_dir: Path = CHART, name: str = "lgc") -> tuple[list[dict], str]:
    values = values or {}
    with helm.Chart.load(str(chart_dir)) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name=name, namespace="lgcron-system", is_install=True)
    docs = [
        doc for path, text in sorted(out.items()) if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc
    ]
    notes = next(text for path, text in out.items() if path.endswith("NOTES.txt"))
    return docs, notes


def _kinds(docs):
    return sorted((d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs)


def _one(docs, kind):
    [found] = [d for d in docs if d["kind"] == kind]
    return found


def _container(docs):
    [container] = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _env(docs):
    return {e["name"]: e for e in _container(docs)["env"]}


def _grants(rules) -> dict[tuple[str, str], set[str]]:
    """(group, resource) -> verbs; a rule limited to some objects counts as resource[name,...]."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        names = f"[{','.join(rule['resourceNames'])}]" if rule.get("resourceNames") else ""
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource + names), set()).update(rule["verbs"])
    return grants


def _manifest_grants(kind: str = "ClusterRole") -> dict[tuple[str, str], set[str]]:
    """The kustomize base's ClusterRole (or Role): the chart must grant the same in all-namespaces mode."""
    docs = yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text())
    return _grants(next(d for d in docs if d["kind"] == kind)["rules"])


PEERING = {("kopf.dev", "clusterkopfpeerings"), ("kopf.dev", "kopfpeerings")}
VWC = "validatingwebhookconfigurations"
# The admission webhook's configuration, cluster-scoped: in the ClusterRole in every mode.
WEBHOOK_CLUSTER_GRANTS = {
    ("admissionregistration.k8s.io", VWC): {"create"},
    ("admissionregistration.k8s.io", f"{VWC}[validation.lgcron.io]"): {"get", "patch"},
}
TLS_SECRET = "lgc-langgraph-cron-operator-webhook-tls"
# Its TLS Secret (the operator's own CA): a Role in the release namespace.
WEBHOOK_ROLE_GRANTS = {("", "secrets"): {"create"}, ("", f"secrets[{TLS_SECRET}]"): {"get", "update"}}
WEBHOOK_ENV = {
    "POD_NAMESPACE",
    "LGCRON_WEBHOOK_SERVICE",
    "LGCRON_WEBHOOK_PORT",
    "LGCRON_WEBHOOK_CONFIGURATION",
    "LGCRON_WEBHOOK_FAILURE_POLICY",
    "LGCRON_WEBHOOK_TIMEOUT_SECONDS",
    "LGCRON_WEBHOOK_TLS_SECRET",
    "LGCRON_WEBHOOK_CERT_DIR",
}
CRD_FILES = ("langgraphcron.yaml", "langgraphserver.yaml", "clusterlanggraphserver.yaml")
CRD_NAMES = ["clusterlanggraphservers.lgcron.io", "langgraphcrons.lgcron.io", "langgraphservers.lgcron.io"]
# The cluster-scoped server object: only a ClusterRole can grant it, so it is there in every mode.
CLUSTER_SERVER_GRANTS = {
    ("lgcron.io", "clusterlanggraphservers"): {"get", "list", "watch", "patch"},
    ("lgcron.io", "clusterlanggraphservers/status"): {"get", "patch", "update"},
    ("lgcron.io", "clusterlanggraphservers/finalizers"): {"update"},
}


def _crds(docs) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "CustomResourceDefinition"}


def test_lint_is_clean():
    for values in (
        {},
        {"replicaCount": 2, "watchNamespaces": ["a"], "metrics": {"enabled": True, "port": 9090}},
        {"replicas": 2},  # the deprecated name, still honoured: no strict-mode error on the absent key either
    ):
        report = helm.lint(str(CHART), values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not problems and not report["errors"], report


def test_default_install_watches_all_namespaces_standalone():
    docs, notes = render()
    assert _kinds(docs) == [
        ("ClusterRole", None, "lgc-langgraph-cron-operator"),
        ("ClusterRoleBinding", None, "lgc-langgraph-cron-operator"),
        *[("CustomResourceDefinition", None, name) for name in CRD_NAMES],
        ("Deployment", "lgcron-system", "lgc-langgraph-cron-operator"),
        ("Role", "lgcron-system", "lgc-langgraph-cron-operator-webhook"),
        ("RoleBinding", "lgcron-system", "lgc-langgraph-cron-operator-webhook"),
        ("Service", "lgcron-system", "lgc-langgraph-cron-operator-webhook"),
        ("ServiceAccount", "lgcron-system", "lgc-langgraph-cron-operator"),
    ]
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = _container(docs)
    assert container["image"] == IMAGE
    assert container["command"] + container["args"] == ["lgcron", "run", "--all-namespaces", LIVENESS]
    env = _env(docs)
    assert env["LGCRON_INVOKER_IMAGE"]["value"] == IMAGE and env["LGCRON_RESYNC_INTERVAL"]["value"] == "300"
    assert "LGCRON_SERVER_URL" not in env and "LGCRON_API_KEY" not in env and "LGCRON_METRICS_PORT" not in env
    assert _grants(_one(docs, "ClusterRole")["rules"]) == {
        k: v for k, v in _manifest_grants().items() if k not in PEERING
    }
    binding = _one(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "lgc-langgraph-cron-operator", "namespace": "lgcron-system"}
    ]
    assert "all namespaces" in notes


def test_pod_is_hardened_like_the_manifests():
    docs, _ = render()
    pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(docs)
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_crds_are_kept_labelled_and_equal_to_the_committed_ones():
    docs, _ = render()
    crds = _crds(docs)
    assert sorted(crds) == CRD_NAMES
    for name in CRD_FILES:
        committed = yaml.safe_load((ROOT / "crds" / name).read_text())
        crd = crds[committed["metadata"]["name"]]
        assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}, name
        assert crd["metadata"].pop("labels")["app.kubernetes.io/instance"] == "lgc", name
        assert crd == committed, name
    docs, notes = render({"crds": {"install": False}})
    assert not _crds(docs)
    assert "install the LangGraphCron, LangGraphServer and ClusterLangGraphServer CRDs yourself" in notes


@pytest.mark.parametrize("values", [{"replicaCount": 2}, {"replicas": 2}], ids=["replicaCount", "old-replicas"])
def test_replicas_run_with_kopf_peering_cluster_wide(values):
    docs, notes = render(values)
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert _container(docs)["args"] == ["run", "--all-namespaces", LIVENESS, "--peering=langgraph-cron-operator"]
    peering = _one(docs, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1" and peering["metadata"]["name"] == "langgraph-cron-operator"
    assert _grants(_one(docs, "ClusterRole")["rules"])[("kopf.dev", "clusterkopfpeerings")] == {
        "get",
        "list",
        "watch",
        "patch",
    }
    assert "one is active at a time" in notes


def test_replica_count_is_the_documented_value_without_deprecation_note():
    docs, notes = render({"replicaCount": 3})
    assert _one(docs, "Deployment")["spec"]["replicas"] == 3
    assert "3 replicas share" in notes and "DEPRECATED" not in notes
    _, notes = render()
    assert "DEPRECATED" not in notes and "replicas share" not in notes


@pytest.mark.parametrize("expression", ["replicaCount=2", "replicas=2"])
def test_set_on_the_command_line_is_accepted(expression):
    """`helm install --set replicaCount=2` (parsed as Helm parses --set) passes the schema and takes effect."""
    docs, _ = render(helm.parse_set_string(expression))
    assert _one(docs, "Deployment")["spec"]["replicas"] == 2 and _one(docs, "ClusterKopfPeering")


def test_old_replicas_value_is_honoured_with_a_deprecation_note():
    docs, notes = render({"replicas": 2})
    assert _one(docs, "Deployment")["spec"]["replicas"] == 2
    assert "DEPRECATED: the value `replicas` is now called `replicaCount`" in notes
    assert "--set replicaCount=2,replicas=null" in notes
    # Set alongside replicaCount, the old name wins (existing values files keep their count) and the note says so.
    docs, notes = render({"replicas": 3, "replicaCount": 2})
    assert _one(docs, "Deployment")["spec"]["replicas"] == 3
    assert "it wins over replicaCount, which is 2" in notes
    # null unsets it (the way out under --reuse-values): replicaCount applies, no note.
    docs, notes = render({"replicas": None, "replicaCount": 1})
    assert _one(docs, "Deployment")["spec"]["replicas"] == 1 and _one(docs, "Deployment")["spec"]["strategy"] == {
        "type": "Recreate"
    }
    assert not [d for d in docs if d["kind"].endswith("KopfPeering")] and "DEPRECATED" not in notes


def test_peering_crds_ship_in_the_charts_crds_folder():
    with helm.Chart.load(str(CHART)) as chart:
        [crds] = chart.crds
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(crds["data"]) if d}
    assert names == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}


def test_watch_namespaces_use_roles_and_a_read_only_cluster_role():
    docs, notes = render({"watchNamespaces": ["team-a", "team-b"], "replicaCount": 2})
    assert _container(docs)["args"] == [
        "run",
        "--namespace=team-a",
        "--namespace=team-b",
        LIVENESS,
        "--peering=langgraph-cron-operator",
    ]
    assert _grants(_one(docs, "ClusterRole")["rules"]) == {
        ("", "namespaces"): {"list", "watch"},
        ("", "namespaces[kube-system]"): {"get"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        **CLUSTER_SERVER_GRANTS,
        **WEBHOOK_CLUSTER_GRANTS,
    }
    expected = {
        k: v
        for k, v in _manifest_grants().items()
        if not k[1].startswith(("namespaces", "customresourcedefinitions", "clusterlanggraphservers", VWC))
    }
    expected.pop(("kopf.dev", "clusterkopfpeerings"))
    # The namespaced server objects and the ConfigMaps of their caBundleRef, in each watched namespace.
    assert expected[("lgcron.io", "langgraphservers")] == {"get", "list", "watch", "patch"}
    assert expected[("", "configmaps")] == {"get"}
    [webhook_role] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "lgcron-system"]
    assert _grants(webhook_role["rules"]) == WEBHOOK_ROLE_GRANTS  # the release namespace: not a watched one
    for namespace in ("team-a", "team-b"):
        [role] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == namespace]
        assert _grants(role["rules"]) == expected
        [binding] = [d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == namespace]
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"][0]["namespace"] == "lgcron-system"
        [peering] = [d for d in docs if d["kind"] == "KopfPeering" and d["metadata"]["namespace"] == namespace]
        assert peering["metadata"]["name"] == "langgraph-cron-operator"
    assert not [d for d in docs if d["kind"] == "ClusterKopfPeering"]
    assert "team-a, team-b" in notes


def test_settings_values_become_env_args_and_ports():
    docs, _ = render(
        {
            "image": {"repository": "registry.example.com/lgcron", "tag": "1.2.3", "pullPolicy": "Always"},
            "server": {
                "url": "https://agents.example.com",
                "apiKeySecret": {"name": "agent-key", "key": "token"},
                "namespaceApiKeySecret": {"name": "lgcron-key", "key": "apiKey"},
                "allowedUrls": ["https://agents.example.com/", "*.agents.example.com"],
            },
            "resyncInterval": 60,
            "logLevel": "debug",
            "logFormat": "json",
            "metrics": {"enabled": True, "port": 9090},
            "invokerImage": "registry.example.com/invoker:2",
            "extraEnv": [{"name": "LGCRON_REQUEST_TIMEOUT", "value": "10"}],
            "podAnnotations": {"team": "support"},
            "podLabels": {"tier": "ops"},
            "imagePullSecrets": [{"name": "regcred"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "ops", "operator": "Exists"}],
            "serviceAccount": {"create": False, "name": "existing"},
        }
    )
    container, env = _container(docs), _env(docs)
    assert container["image"] == "registry.example.com/lgcron:1.2.3" and container["imagePullPolicy"] == "Always"
    assert container["args"] == ["run", "--all-namespaces", LIVENESS, "--verbose", "--log-format=json"]
    assert env["LGCRON_SERVER_URL"]["value"] == "https://agents.example.com"
    assert env["LGCRON_API_KEY"] == {
        "name": "LGCRON_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "agent-key", "key": "token"}},
    }
    assert env["LGCRON_API_KEY_SECRET"]["value"] == "lgcron-key:apiKey"
    assert env["LGCRON_ALLOWED_SERVER_URLS"]["value"] == "https://agents.example.com/,*.agents.example.com"
    assert "LGCRON_ALLOWED_SERVER_URLS" not in _env(render()[0]), "unset by default: any URL, as before"
    assert env["LGCRON_RESYNC_INTERVAL"]["value"] == "60" and env["LGCRON_METRICS_PORT"]["value"] == "9090"
    assert env["LGCRON_INVOKER_IMAGE"]["value"] == "registry.example.com/invoker:2"
    assert env["LGCRON_REQUEST_TIMEOUT"]["value"] == "10"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    template = _one(docs, "Deployment")["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "team": "support",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "prometheus.io/path": "/metrics",
    }
    assert template["metadata"]["labels"]["tier"] == "ops"
    pod = template["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}] and pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [{"key": "ops", "operator": "Exists"}] and pod["serviceAccountName"] == "existing"
    assert not [d for d in docs if d["kind"] == "ServiceAccount"]
    assert _one(docs, "ClusterRoleBinding")["subjects"][0]["name"] == "existing"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"replicaCount": 3},
        {"watchNamespaces": ["a"], "replicaCount": 2},
        {"watchNamespaces": ["a"], "defaultServer": {"create": True, "url": "https://a.example.com"}}
        | {"server": {"apiKeySecret": {"name": "key", "key": "apiKey"}}},
    ],
    ids=["default", "ha", "namespaced", "namespaced-default-server"],
)
def test_rbac_has_no_wildcards_and_secrets_are_only_read(values):
    docs, _ = render(values)
    rules = [rule for d in docs if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert not any("*" in item for item in rule[field]), rule
    for (_, resource), verbs in _grants(rules).items():
        if resource.startswith(("secrets", "configmaps")) and (_, resource) not in WEBHOOK_ROLE_GRANTS:
            assert verbs == {"get"}
    # The one Secret written: the webhook's TLS, by a Role in the release namespace (create cannot be
    # limited to a name; get and update are).
    [webhook_role] = [d for d in docs if d["metadata"]["name"].endswith("-webhook") and d["kind"] == "Role"]
    assert webhook_role["metadata"]["namespace"] == "lgcron-system"
    assert _grants(webhook_role["rules"]) == WEBHOOK_ROLE_GRANTS
    for role in (d for d in docs if d["kind"] in ("ClusterRole", "Role") and d is not webhook_role):
        for rule in role["rules"]:
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"], rule
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]


def test_template_braces_in_crd_descriptions_render_verbatim(monkeypatch, tmp_path):
    from tests.packaging.test_chart import crd_template_with_description

    description = "e.g. {{ .Values.secret }} or }}"
    chart = shutil.copytree(CHART, tmp_path / CHART.name)
    (chart / "templates" / "crds" / "langgraphcron.yaml").write_text(
        crd_template_with_description(monkeypatch, description)
    )
    docs, _ = render(chart_dir=chart)
    assert _crds(docs)["langgraphcrons.lgcron.io"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "description"
    ] == (description)


# ---------------------------------------------------------------- the admission webhook

SERVICE = "lgc-langgraph-cron-operator-webhook"


def _webhook_settings(docs) -> WebhookSettings:
    """The operator's webhook settings, from the Deployment's env as kubelet hands it to the process."""
    pod = {"metadata.name": "lgc-langgraph-cron-operator-abc12", "metadata.namespace": "lgcron-system"}
    return WebhookSettings.from_env(kubelet.container_env(_container(docs), pod))


def _webhook_docs(docs) -> list[dict]:
    return [d for d in docs if "-webhook" in d["metadata"]["name"] or d["apiVersion"].startswith("cert-manager.io/")]


def test_webhook_service_selects_the_operators_pods_and_targets_their_webhook_port():
    docs, _ = render()
    service, deployment = _one(docs, "Service"), _one(docs, "Deployment")
    assert service["metadata"]["name"] == SERVICE and service["metadata"]["namespace"] == "lgcron-system"
    selector = service["spec"]["selector"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    assert {"name": "webhook", "containerPort": 9443, "protocol": "TCP"} in _container(docs)["ports"]


def test_webhook_env_names_the_service_secret_and_configuration_of_the_release():
    docs, notes = render()
    settings = _webhook_settings(docs)
    assert settings.enabled and settings.service_ref == ("lgcron-system", SERVICE) and settings.service_port == 443
    assert settings.port == 9443 and settings.cert_dir is None
    assert (settings.failure_policy, settings.timeout_seconds) == ("Ignore", 5)
    assert settings.configuration == "validation.lgcron.io"
    assert settings.secret_ref == ("lgcron-system", TLS_SECRET)
    assert f"{SERVICE}.lgcron-system.svc" in settings.hostnames
    assert {k: v for k, v in _grants(_one(docs, "ClusterRole")["rules"]).items() if VWC in k[1]} == (
        WEBHOOK_CLUSTER_GRANTS
    )
    role = _one(docs, "Role")
    assert role["metadata"]["namespace"] == settings.secret_ref[0]
    assert _grants(role["rules"]) == WEBHOOK_ROLE_GRANTS
    assert _grants(role["rules"]) == {
        (group, resource.replace("lgcron-webhook-tls", TLS_SECRET)): verbs
        for (group, resource), verbs in _manifest_grants("Role").items()
    }, "the same Role as the manifests', for the release's Secret"
    binding = _one(docs, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"] and binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "lgc-langgraph-cron-operator", "namespace": "lgcron-system"}
    ]
    assert "kubectl delete validatingwebhookconfiguration validation.lgcron.io" in notes


def test_webhook_values_become_env_ports_and_rbac():
    values = {"failurePolicy": "Fail", "timeoutSeconds": 10, "port": 9444, "configurationName": "lgcron.example.com"}
    docs, notes = render({"webhook": values, "metrics": {"enabled": True, "port": 9090}})
    settings = _webhook_settings(docs)
    assert (settings.failure_policy, settings.timeout_seconds, settings.port) == ("Fail", 10, 9444)
    assert settings.configuration == "lgcron.example.com"
    assert {"name": "webhook", "containerPort": 9444, "protocol": "TCP"} in _container(docs)["ports"]
    grants = _grants(_one(docs, "ClusterRole")["rules"])
    assert grants[("admissionregistration.k8s.io", f"{VWC}[lgcron.example.com]")] == {"get", "patch"}
    assert ("admissionregistration.k8s.io", f"{VWC}[validation.lgcron.io]") not in grants
    assert "delete it BEFORE uninstalling" in notes


def test_webhook_rbac_is_in_the_cluster_role_in_every_mode():
    for values in ({}, {"watchNamespaces": ["a"]}, {"replicaCount": 2}, {"watchNamespaces": ["a", "lgcron-system"]}):
        docs, _ = render(values)
        grants = _grants(_one(docs, "ClusterRole")["rules"])
        assert {k: v for k, v in grants.items() if VWC in k[1]} == WEBHOOK_CLUSTER_GRANTS, values
        assert not [k for k in grants if "mutatingwebhookconfigurations" in k[1]]
        [role] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-webhook")]
        assert role["metadata"]["namespace"] == "lgcron-system" and _grants(role["rules"]) == WEBHOOK_ROLE_GRANTS


@pytest.mark.parametrize("values", [{}, {"watchNamespaces": ["a"], "replicaCount": 2}], ids=["default", "namespaced"])
def test_webhook_disabled_renders_none_of_it(values):
    docs, notes = render({**values, "webhook": {"enabled": False}})
    assert not _webhook_docs(docs)
    assert not [d for d in docs if d["kind"] in ("Service", "Certificate", "Issuer")]
    assert not WEBHOOK_ENV & set(_env(docs)) and WEBHOOK_ENV & set(_env(render(values)[0]))
    assert [p["name"] for p in _container(docs)["ports"]] == ["health"]
    for role in (d for d in docs if d["kind"] in ("ClusterRole", "Role")):
        for (group, resource), verbs in _grants(role["rules"]).items():
            assert group != "admissionregistration.k8s.io", (role["metadata"]["name"], resource)
            if resource.startswith("secrets"):
                assert verbs == {"get"}, (role["metadata"]["name"], resource)
    assert not _webhook_settings(docs).enabled
    assert "validatingwebhookconfiguration" not in notes
    # Nor with cert-manager asked for: enabled false wins.
    docs, _ = render({**values, "webhook": {"enabled": False, "certManager": {"enabled": True}}})
    assert not _webhook_docs(docs) and not WEBHOOK_ENV & set(_env(docs))
    assert _one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def _certificates(docs) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Certificate"}


def test_cert_manager_mode_mounts_the_certificates_secret_and_needs_no_secret_rbac():
    docs, _ = render({"webhook": {"certManager": {"enabled": True}}})
    certificate = _certificates(docs)[SERVICE]
    assert certificate["apiVersion"] == "cert-manager.io/v1" and certificate["metadata"]["namespace"] == "lgcron-system"
    assert certificate["spec"]["dnsNames"] == [f"{SERVICE}.lgcron-system.svc", f"{SERVICE}.lgcron-system.svc.cluster.local"]
    secret_name = certificate["spec"]["secretName"]
    assert secret_name == "lgc-langgraph-cron-operator-webhook-cert" != TLS_SECRET  # never the operator's own CA
    pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"] == {"secretName": secret_name}
    [mount] = [m for m in _container(docs)["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    settings = _webhook_settings(docs)
    assert settings.cert_dir == mount["mountPath"] and settings.tls_secret is None
    assert "LGCRON_WEBHOOK_TLS_SECRET" not in _env(docs)
    assert set(certificate["spec"]["dnsNames"]) <= set(settings.hostnames)
    assert settings.service_ref == ("lgcron-system", SERVICE)
    # The operator writes no Secret: no webhook Role; its configuration's RBAC stays.
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding")]
    grants = _grants(_one(docs, "ClusterRole")["rules"])
    assert {k: v for k, v in grants.items() if VWC in k[1]} == WEBHOOK_CLUSTER_GRANTS
    assert {k: v for k, v in grants.items() if k[1].startswith("secrets")} == {("", "secrets"): {"get"}}


def test_cert_manager_without_an_issuer_bootstraps_a_ca_of_its_own():
    docs, _ = render({"webhook": {"certManager": {"enabled": True}}})
    issuers = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Issuer"}
    assert issuers == {
        "lgc-langgraph-cron-operator-webhook-selfsigned": {"selfSigned": {}},
        "lgc-langgraph-cron-operator-webhook-ca": {"ca": {"secretName": "lgc-langgraph-cron-operator-webhook-ca"}},
    }
    ca = _certificates(docs)["lgc-langgraph-cron-operator-webhook-ca"]
    assert ca["spec"]["isCA"] is True and ca["spec"]["secretName"] == "lgc-langgraph-cron-operator-webhook-ca"
    assert ca["spec"]["issuerRef"] == {
        "name": "lgc-langgraph-cron-operator-webhook-selfsigned", "kind": "Issuer", "group": "cert-manager.io"
    }
    assert _certificates(docs)[SERVICE]["spec"]["issuerRef"] == {
        "name": "lgc-langgraph-cron-operator-webhook-ca", "kind": "Issuer", "group": "cert-manager.io"
    }
    for doc in (d for d in docs if d["apiVersion"] == "cert-manager.io/v1"):
        assert doc["metadata"]["namespace"] == "lgcron-system", doc["metadata"]["name"]


def test_cert_manager_with_an_issuer_uses_it_and_creates_none():
    issuer = {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    docs, _ = render({"webhook": {"certManager": {"enabled": True, "issuerRef": issuer}}})
    assert not [d for d in docs if d["kind"] == "Issuer"]
    assert list(_certificates(docs)) == [SERVICE]
    assert _certificates(docs)[SERVICE]["spec"]["issuerRef"] == issuer
    docs, _ = render({"webhook": {"certManager": {"enabled": True, "issuerRef": {"name": "team-ca"}}}})
    assert _certificates(docs)[SERVICE]["spec"]["issuerRef"] == {"name": "team-ca", "kind": "Issuer", "group": "cert-manager.io"}


WEBHOOK_MODES = {
    "default": {},
    "namespaced": {"watchNamespaces": ["a"], "replicaCount": 2},
    "fail": {"webhook": {"failurePolicy": "Fail", "timeoutSeconds": 30}},
    "cert-manager": {"webhook": {"certManager": {"enabled": True}}},
    "cert-manager-issuer": {"webhook": {"certManager": {"enabled": True, "issuerRef": {"name": "corp-ca"}}}},
    "off": {"webhook": {"enabled": False}},
}


@pytest.mark.parametrize("values", WEBHOOK_MODES.values(), ids=WEBHOOK_MODES.keys())
def test_no_env_entry_is_an_empty_value_and_lint_is_clean(values):
    """An unset setting is left out: the apiserver stores no `value: ""`, so Argo CD would diff for ever."""
    docs, _ = render(values)
    for item in _container(docs)["env"]:
        assert "valueFrom" in item or item.get("value"), item
    report = helm.lint(str(CHART), values, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], report


@pytest.mark.parametrize(
    ("webhook", "where"),
    [
        ({"failurePolicy": "Never"}, "/webhook/failurePolicy"),
        ({"timeoutSeconds": 60}, "/webhook/timeoutSeconds"),
        ({"timeoutSeconds": 0}, "/webhook/timeoutSeconds"),
        ({"timeoutSeconds": "5"}, "/webhook/timeoutSeconds"),
        ({"port": 8080}, "/webhook/port"),
        ({"port": 70000}, "/webhook/port"),
        ({"configurationName": "validation"}, "/webhook/configurationName"),
        ({"configurationName": "Validation.lgcron.io"}, "/webhook/configurationName"),
        ({"enabled": "yes"}, "/webhook/enabled"),
        ({"certManager": {"enabled": True, "issuerRef": {"name": "ca", "kind": ""}}}, "/webhook/certManager/issuerRef/kind"),
        ({"certmanager": {"enabled": True}}, "/webhook"),
    ],
)
def test_helm_refuses_bad_webhook_values(webhook, where):
    """Helm's own schema validation (what `helm install` runs) refuses them, naming the value."""
    with pytest.raises(helm.HelmValuesError, match=where):
        render({"webhook": webhook})


def test_webhook_port_must_differ_from_the_metrics_port():
    with pytest.raises(helm.HelmRenderError, match="webhook.port and metrics.port must differ"):
        render({"webhook": {"port": 9090}, "metrics": {"enabled": True, "port": 9090}})
    render({"webhook": {"port": 9090}, "metrics": {"enabled": False, "port": 9090}})  # no metrics port: fine


# ---------------------------------------------------------------- defaultServer: a ClusterLangGraphServer

# The CRDs come with the release by default, and Helm maps every object of an install before creating any:
# the ClusterLangGraphServer is rendered only once the cluster serves its API, or when the CRDs are not the
# release's (crds.install false). Offline rendering knows no cluster API, so these tests use crds.install false.
EXTERNAL_CRDS = {"crds": {"install": False}}
SERVER_URL = "https://agents.example.com"


def _servers(docs) -> list[dict]:
    return [d for d in docs if d["kind"] == "ClusterLangGraphServer"]


def _default_server(values: dict) -> tuple[dict, str]:
    docs, notes = render({**EXTERNAL_CRDS, **values})
    [server] = _servers(docs)
    return server, notes


def test_no_default_server_unless_asked():
    for values in ({}, EXTERNAL_CRDS, {"server": {"url": SERVER_URL}}):
        docs, notes = render(values)
        assert not _servers(docs) and "serverRef: {kind: ClusterLangGraphServer" not in notes
        assert "default Agent Server is the" not in notes and "not created yet" not in notes


def test_default_server_from_its_own_values():
    server, notes = _default_server(
        {
            "defaultServer": {
                "create": True,
                "name": "default",
                "url": SERVER_URL,
                "apiKeySecretRef": {"name": "agent-key", "key": "token", "namespace": "admin"},
                "conditions": [{"namespaceRegexes": [".*"]}],
            }
        }
    )
    assert server["apiVersion"] == "lgcron.io/v1alpha1"
    assert server["metadata"]["name"] == "default" and "namespace" not in server["metadata"]  # cluster-scoped
    assert server["metadata"]["labels"]["app.kubernetes.io/instance"] == "lgc"
    assert server["spec"] == {
        "url": SERVER_URL,
        "apiKeySecretRef": {"name": "agent-key", "key": "token", "namespace": "admin"},
        "conditions": [{"namespaceRegexes": [".*"]}],
    }
    assert "serverRef: {kind: ClusterLangGraphServer, name: default}" in notes


def test_default_server_defaults_allow_every_namespace_with_the_release_namespaces_secret():
    server, _ = _default_server(
        {"defaultServer": {"create": True, "url": SERVER_URL, "apiKeySecretRef": {"name": "agent-key"}}}
    )
    assert server["metadata"]["name"] == "default"
    assert server["spec"]["apiKeySecretRef"] == {"name": "agent-key", "key": "apiKey", "namespace": "lgcron-system"}
    assert server["spec"]["conditions"] == [{"namespaceRegexes": [".*"]}]


def test_default_server_falls_back_to_the_operator_wide_default():
    """create alone turns server.url + server.apiKeySecret (LGCRON_SERVER_URL + key) into the server object."""
    values = {"server": {"url": SERVER_URL, "apiKeySecret": {"name": "langgraph-api-key", "key": "apiKey"}}}
    server, _ = _default_server({**values, "defaultServer": {"create": True}})
    assert server["spec"]["url"] == SERVER_URL
    assert server["spec"]["apiKeySecretRef"] == {
        "name": "langgraph-api-key",
        "key": "apiKey",
        "namespace": "lgcron-system",
    }
    docs, _ = render({**EXTERNAL_CRDS, **values, "defaultServer": {"create": True}})
    env = _env(docs)  # the operator-wide default stays as it was, for crons without serverRef
    assert env["LGCRON_SERVER_URL"]["value"] == SERVER_URL
    assert env["LGCRON_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "langgraph-api-key", "key": "apiKey"}
    # Its own values win over the fallback.
    server, _ = _default_server(
        {
            **values,
            "defaultServer": {"create": True, "url": "https://other.example.com", "apiKeySecretRef": {"name": "other"}},
        }
    )
    assert server["spec"]["url"] == "https://other.example.com"
    assert server["spec"]["apiKeySecretRef"] == {"name": "other", "key": "apiKey", "namespace": "lgcron-system"}


def test_default_server_without_any_key_has_no_secret_ref():
    server, _ = _default_server({"defaultServer": {"create": True, "url": SERVER_URL}})
    assert server["spec"] == {"url": SERVER_URL, "conditions": [{"namespaceRegexes": [".*"]}]}


def test_default_server_name_and_conditions_are_passed_through():
    conditions = [
        {"namespaces": ["team-a", "team-b"]},
        {"namespaceSelector": {"matchLabels": {"lgcron.io/tenant": "true"}}},
        {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["x", "y"]}]}},
        {"namespaceRegexes": ["^ml-.*$"]},
    ]
    server, notes = _default_server(
        {"defaultServer": {"create": True, "name": "shared-agents", "url": SERVER_URL, "conditions": conditions}}
    )
    assert server["metadata"]["name"] == "shared-agents" and server["spec"]["conditions"] == conditions
    assert "name: shared-agents}" in notes
    server, _ = _default_server({"defaultServer": {"create": True, "url": SERVER_URL, "conditions": []}})
    assert server["spec"]["conditions"] == []  # no namespace may use it


@pytest.mark.parametrize(
    "values",
    [
        {"defaultServer": {"create": True, "url": SERVER_URL}},
        {"defaultServer": {"create": True, "url": SERVER_URL, "apiKeySecretRef": {"name": "k", "namespace": "ops"}}},
        {
            "defaultServer": {
                "create": True,
                "url": SERVER_URL,
                "conditions": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}}],
            }
        },
    ],
    ids=["plain", "secret", "selector"],
)
def test_default_server_spec_is_valid_for_the_operator(values):
    """The rendered spec parses as the operator parses a ClusterLangGraphServer (unknown fields rejected)."""
    from langgraph_cron.core.models import ClusterLangGraphServerSpec

    server, _ = _default_server(values)
    ClusterLangGraphServerSpec.model_validate(server["spec"])


def test_default_server_needs_a_url():
    for values in ({"defaultServer": {"create": True}}, {**EXTERNAL_CRDS, "defaultServer": {"create": True}}):
        with pytest.raises(helm.HelmRenderError, match=r"defaultServer.create needs defaultServer.url \(or server.url"):
            render(values)


def test_default_server_waits_for_its_crd_when_the_release_installs_it():
    docs, notes = render({"defaultServer": {"create": True, "url": SERVER_URL}})  # crds.install: true
    assert not _servers(docs)
    assert "CustomResourceDefinition" in {d["kind"] for d in docs}
    assert 'the ClusterLangGraphServer "default" was not created yet' in notes
    assert "helm upgrade lgc <chart> -n lgcron-system --reuse-values" in notes


def test_default_server_renders_once_the_cluster_serves_its_api(tmp_path):
    """The second `helm upgrade`: .Capabilities lists the API (emulated: offline rendering has no cluster)."""
    chart = shutil.copytree(CHART, tmp_path / CHART.name)
    helpers = chart / "templates" / "_helpers.tpl"
    gate = '(.Capabilities.APIVersions.Has "lgcron.io/v1alpha1/ClusterLangGraphServer")'
    assert helpers.read_text().count(gate) == 1
    helpers.write_text(helpers.read_text().replace(gate, "true"))
    docs, notes = render({"defaultServer": {"create": True, "url": SERVER_URL}}, chart_dir=chart)
    [server] = _servers(docs)
    assert server["spec"]["url"] == SERVER_URL and "not created yet" not in notes


def test_default_server_lints_clean():
    for values in (
        {**EXTERNAL_CRDS, "defaultServer": {"create": True, "url": SERVER_URL}},
        {"defaultServer": {"create": True, "url": SERVER_URL, "apiKeySecretRef": {"name": "k"}}},
    ):
        report = helm.lint(str(CHART), values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not problems and not report["errors"], report


def _default_server_roles(docs) -> list[dict]:
    kinds = ("Role", "RoleBinding")
    return [d for d in docs if d["kind"] in kinds and d["metadata"]["name"].endswith("-default-server")]


def test_watched_namespaces_get_a_role_reading_only_the_default_servers_secret():
    """With watchNamespaces the Roles cover only those namespaces: the key's namespace gets one Secret, by name."""
    values = {"watchNamespaces": ["team-a"], "defaultServer": {"create": True, "url": SERVER_URL}}
    values["defaultServer"]["apiKeySecretRef"] = {"name": "agent-key", "key": "apiKey"}
    docs, _ = render(values)
    role, binding = sorted(_default_server_roles(docs), key=lambda d: d["kind"])
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "lgcron-system"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["agent-key"], "verbs": ["get"]}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["metadata"]["namespace"] == "lgcron-system"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "lgc-langgraph-cron-operator", "namespace": "lgcron-system"}
    ]
    # Not needed: all namespaces (the ClusterRole reads Secrets), a watched namespace, or no key at all.
    for other in (
        {"defaultServer": values["defaultServer"]},
        {**values, "watchNamespaces": ["team-a", "lgcron-system"]},
        {"watchNamespaces": ["team-a"], "defaultServer": {"create": True, "url": SERVER_URL}},
        {"watchNamespaces": ["team-a"]},
    ):
        assert not _default_server_roles(render(other)[0]), other


def test_cluster_role_grants_cluster_servers_in_every_mode():
    for values in ({}, {"watchNamespaces": ["a"]}, {"replicaCount": 2}):
        grants = _grants(_one(render(values)[0], "ClusterRole")["rules"])
        assert {k: grants.get(k) for k in CLUSTER_SERVER_GRANTS} == CLUSTER_SERVER_GRANTS, values


def test_default_server_is_accepted_by_the_apiserver(crds_installed):
    """With an apiserver (tests/packaging/conftest.py): the rendered object passes the real CRD's validation."""
    docs, _ = render(
        {
            **EXTERNAL_CRDS,
            "server": {"url": SERVER_URL, "apiKeySecret": {"name": "langgraph-api-key", "key": "apiKey"}},
            "defaultServer": {
                "create": True,
                "conditions": [
                    {"namespaceRegexes": [".*"]},
                    {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
                ],
            },
        }
    )
    [server] = _servers(docs)
    result = crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clusterlanggraphserver.lgcron.io/default created (server dry run)" in result.stdout


# ---------------------------------------------------------------- the webhook's RBAC on a real apiserver

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
VWC_API = "validatingwebhookconfigurations.admissionregistration.k8s.io"
MWC_API = "mutatingwebhookconfigurations.admissionregistration.k8s.io"


def _install_rbac(apiserver, values: dict, release: str) -> tuple[list[dict], Callable[..., bool]]:
    """The release's ServiceAccount and RBAC applied for real; can(verb, resource, *flags) as its ServiceAccount."""
    docs, _ = render(values, name=release)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lgcron-system"}}
    apiserver.ok("apply", "-f", "-", stdin=yaml.safe_dump_all([namespace, *(d for d in docs if d["kind"] in RBAC_KINDS)]))
    user = f"system:serviceaccount:lgcron-system:{release}-langgraph-cron-operator"

    def can(verb: str, resource: str, *flags: str) -> bool:
        result = apiserver.kubectl("auth", "can-i", verb, resource, "--as", user, *flags)
        assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
        return result.stdout.strip() == "yes"

    return docs, can


def test_chart_rbac_lets_the_operator_keep_its_webhook_and_nothing_more(crds_installed):
    docs, can = _install_rbac(crds_installed, {}, "lgw")
    assert can("create", VWC_API)
    for verb in ("get", "patch"):
        assert can(verb, f"{VWC_API}/validation.lgcron.io") and not can(verb, f"{VWC_API}/other.example.com"), verb
    for verb in ("list", "watch", "update", "delete"):
        assert not can(verb, f"{VWC_API}/validation.lgcron.io"), verb
    for verb in ("create", "get", "patch", "delete"):
        assert not can(verb, MWC_API) and not can(verb, f"{MWC_API}/validation.lgcron.io"), verb
    secret = "secrets/lgw-langgraph-cron-operator-webhook-tls"
    assert can("create", "secrets", "-n", "lgcron-system") and can("update", secret, "-n", "lgcron-system")
    assert can("get", secret, "-n", "lgcron-system")
    assert not can("update", "secrets/lgcron-api-key", "-n", "lgcron-system")
    assert not can("create", "secrets", "-n", "team-a") and not can("update", secret, "-n", "team-a")
    for verb in ("list", "patch", "delete"):
        assert not can(verb, secret, "-n", "lgcron-system"), verb
    # The Service and the Deployment that names it pass the apiserver's own validation.
    served = [d for d in docs if d["kind"] in ("Service", "Deployment")]
    result = crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(served))
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_rbac_without_the_webhook_or_with_cert_manager(crds_installed):
    _, can = _install_rbac(crds_installed, {"webhook": {"enabled": False}}, "lgoff")
    assert not can("create", VWC_API) and not can("patch", f"{VWC_API}/validation.lgcron.io")
    assert not can("create", "secrets", "-n", "lgcron-system")
    docs, can = _install_rbac(crds_installed, {"webhook": {"certManager": {"enabled": True}}}, "lgcm")
    assert can("create", VWC_API) and can("patch", f"{VWC_API}/validation.lgcron.io")
    assert not can("create", "secrets", "-n", "lgcron-system")  # cert-manager writes the Secret, not the operator
    assert not can("update", "secrets/lgcm-langgraph-cron-operator-webhook-cert", "-n", "lgcron-system")
    # The Pod mounting the Certificate's Secret passes the apiserver's validation (cert-manager's own kinds
    # need its CRDs, which this control plane does not have).
    served = [d for d in docs if d["kind"] in ("Service", "Deployment")]
    result = crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(served))
    assert result.returncode == 0, result.stdout + result.stderr
