"""The Helm chart rendered by Helm's own Go engine (helm-python-sdk embeds it), for each mode it supports."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import helm_python as helm  # helm-python-sdk, in the test extra
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "langgraph-cron-operator"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"ghcr.io/lgcron/langgraph-cron-operator:{VERSION}"
LIVENESS = "--liveness=http://0.0.0.0:8080/healthz"


def render(values: dict | None = None, chart_dir: Path = CHART) -> tuple[list[dict], str]:
    values = values or {}
    with helm.Chart.load(str(chart_dir)) as chart:
        chart.validate_schema(values)
        out = chart.render(values, name="lgc", namespace="lgcron-system", is_install=True)
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


def _manifest_grants() -> dict[tuple[str, str], set[str]]:
    """The kustomize base's ClusterRole: the chart must grant the same in all-namespaces mode."""
    docs = yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text())
    return _grants(next(d for d in docs if d["kind"] == "ClusterRole")["rules"])


PEERING = {("kopf.dev", "clusterkopfpeerings"), ("kopf.dev", "kopfpeerings")}


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
        ("CustomResourceDefinition", None, "langgraphcrons.lgcron.io"),
        ("Deployment", "lgcron-system", "lgc-langgraph-cron-operator"),
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


def test_crd_is_kept_labelled_and_equal_to_the_committed_one():
    docs, _ = render()
    crd = _one(docs, "CustomResourceDefinition")
    assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert crd["metadata"].pop("labels")["app.kubernetes.io/instance"] == "lgc"
    assert crd == yaml.safe_load((ROOT / "crds" / "langgraphcron.yaml").read_text())
    docs, notes = render({"crds": {"install": False}})
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert "install the LangGraphCron CRD yourself" in notes


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
    }
    expected = {
        k: v for k, v in _manifest_grants().items() if not k[1].startswith(("namespaces", "customresourcedefinitions"))
    }
    expected.pop(("kopf.dev", "clusterkopfpeerings"))
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
    [{}, {"replicaCount": 3}, {"watchNamespaces": ["a"], "replicaCount": 2}],
    ids=["default", "ha", "namespaced"],
)
def test_rbac_has_no_wildcards_and_secrets_are_only_read(values):
    docs, _ = render(values)
    rules = [rule for d in docs if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert not any("*" in item for item in rule[field]), rule
    for (_, resource), verbs in _grants(rules).items():
        if resource.startswith("secrets"):
            assert verbs == {"get"}
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
    assert _one(docs, "CustomResourceDefinition")["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "description"
    ] == (description)
