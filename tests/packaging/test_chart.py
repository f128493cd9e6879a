"""The Helm chart, checked without the helm binary: metadata, values schema, template syntax, CRD drift.

test_chart_render.py renders it with Helm's own engine where that is installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
import langgraph_cron
from langgraph_cron.core import crd as crd_module
from langgraph_cron.core.crd import all_crds, render_helm_crd_template

from tests.packaging import gotemplate

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "langgraph-cron-operator"
TEMPLATES = sorted(p for p in (CHART / "templates").rglob("*") if p.is_file())
VERSION = langgraph_cron.__version__  # the one place (pyproject reads it too)


def _values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _schema() -> dict:
    return json.loads((CHART / "values.schema.json").read_text())


# ---------------------------------------------------------------- the checker itself


def test_checker_accepts_a_well_formed_template():
    source = (
        "{{- /* a comment with }} inside */}}\n"
        "{{- if .Values.on }}\n"
        "metadata:\n"
        '  name: {{ include "x.fullname" . }}\n'
        "  labels:\n"
        '    {{- include "x.labels" . | nindent 4 }}\n'
        '  note: {{ "}}" | quote }}\n'
        "{{- range .Values.items }}\n"
        "{{- else }}\n"
        "{{- end }}\n"
        "{{- end }}\n"
    )
    assert yaml.safe_load(gotemplate.strip(source)) == {
        "metadata": {"name": gotemplate.PLACEHOLDER, "labels": None, "note": gotemplate.PLACEHOLDER}
    }


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("a: {{ .Values.x }\nb: 1\n", "unclosed action"),
        ("a: {{ .Values.x \nb: {{ .y }}\n", "inside an action"),
        ("{{ if .Values.x }}\na: 1\n", "never closed"),
        ("a: 1\n{{ end }}\n", "end without"),
        ("{{ else }}\n", "else outside"),
        ("{{/* never closed }}\n", "unclosed comment"),
        ('a: {{ "x }}\n', "unterminated"),
    ],
)
def test_checker_rejects_broken_templates(source, problem):
    with pytest.raises(gotemplate.TemplateError, match=problem):
        gotemplate.strip(source)


def test_stripped_yaml_errors_surface():
    broken = "metadata:\n  name: {{ .Values.name }}\n labels: {}\n"  # bad indentation
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(gotemplate.strip(broken))


# ---------------------------------------------------------------- the chart


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name == "langgraph-cron-operator"
    assert chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["appVersion"] == VERSION, "appVersion is the image tag: keep it at the package version"
    assert chart["description"]


def test_expected_files_exist():
    for name in ("values.yaml", "values.schema.json", ".helmignore", "templates/NOTES.txt", "templates/_helpers.tpl"):
        assert (CHART / name).is_file(), name
    for name in ("deployment.yaml", "serviceaccount.yaml", "rbac.yaml", "peering.yaml", "defaultserver.yaml", "webhook.yaml"):
        assert (CHART / "templates" / name).is_file(), name
    assert sorted(p.name for p in (CHART / "templates" / "crds").iterdir()) == sorted(all_crds())


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(CHART)))
def test_template_syntax_and_yaml_shape(template):
    source = template.read_text()
    gotemplate.check(source)
    if template.suffix == ".yaml":
        for doc in yaml.safe_load_all(gotemplate.strip(source)):
            if doc is not None:
                assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), template


def _defined_helpers() -> set[str]:
    return {
        a.body.split(None, 1)[1].strip('"')
        for a in gotemplate.check((CHART / "templates" / "_helpers.tpl").read_text())
        if a.keyword == "define"
    }


def test_helpers_follow_helm_create_and_every_include_is_defined():
    defined = _defined_helpers()
    for name in ("name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName"):
        assert f"langgraph-cron-operator.{name}" in defined
    for template in TEMPLATES:
        for used in re.findall(r'include\s+"([^"]+)"', template.read_text()):
            assert used in defined, f"{template.name}: include of undefined {used!r}"


# Old value names still honoured but left out of values.yaml (their presence means the user set them).
DEPRECATED_ALIASES = {"replicas": "replicaCount"}


def test_every_values_reference_exists_in_values_yaml():
    values = _values()
    for template in TEMPLATES:
        for path in re.findall(r"\$?\.Values\.([A-Za-z0-9_.]+)", template.read_text()):
            if path in DEPRECATED_ALIASES:
                assert path in _schema()["properties"], f"deprecated .Values.{path} must stay in the schema"
                continue
            node = values
            for part in path.split("."):
                assert isinstance(node, dict) and part in node, f"{template.name}: .Values.{path} is not in values.yaml"
                node = node[part]


def test_values_yaml_is_documented():
    text = (CHART / "values.yaml").read_text()
    for key in (
        "replicaCount",
        "watchNamespaces",
        "resyncInterval",
        "logLevel",
        "logFormat",
        "invokerImage",
        "server",
        "defaultServer",
        "webhook",
    ):
        assert re.search(rf"#.*\n(?:#.*\n)*{key}:", text), f"{key} has no comment above it"
    webhook = re.search(r"\nwebhook:\n(?:(?: .*)?\n)*", text)[0]
    for key in ("enabled", "failurePolicy", "timeoutSeconds", "port", "configurationName", "certManager", "issuerRef"):
        assert re.search(rf"#.*\n(?:  +#.*\n)*  +{key}:", webhook), f"webhook.{key} has no comment above it"


# ---------------------------------------------------------------- values schema


def test_values_yaml_validates_against_the_schema():
    jsonschema.Draft7Validator.check_schema(_schema())
    jsonschema.validate(_values(), _schema(), cls=jsonschema.Draft7Validator)


def test_values_have_the_documented_defaults():
    values = _values()
    assert values["replicaCount"] == 1 and values["watchNamespaces"] == [] and values["crds"]["install"] is True
    assert values["image"]["repository"] == "ghcr.io/lgcron/langgraph-cron-operator" and values["image"]["tag"] == ""
    assert values["podSecurityContext"]["runAsNonRoot"] is True and values["podSecurityContext"]["runAsUser"] == 10001
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert values["webhook"] == {
        "enabled": True,
        "failurePolicy": "Ignore",
        "timeoutSeconds": 5,
        "port": 9443,
        "configurationName": "validation.lgcron.io",
        "certManager": {"enabled": False, "issuerRef": {"name": "", "kind": "Issuer", "group": "cert-manager.io"}},
    }
    assert values["defaultServer"] == {
        "create": False,
        "name": "default",
        "url": "",
        "apiKeySecretRef": {"name": "", "key": "apiKey", "namespace": ""},
        "conditions": [{"namespaceRegexes": [".*"]}],
    }


def test_default_server_conditions_schema_follows_the_crd():
    """values.schema.json's condition entry has exactly the fields (and operators) of ClusterLangGraphServer's."""
    crd_spec = all_crds()["clusterlanggraphserver.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    crd_condition = crd_spec["properties"]["spec"]["properties"]["conditions"]["items"]
    schema = _schema()
    condition = schema["definitions"]["namespaceCondition"]
    assert set(condition["properties"]) == set(crd_condition["properties"])
    crd_selector = crd_condition["properties"]["namespaceSelector"]["properties"]
    selector = condition["properties"]["namespaceSelector"]["properties"]
    assert set(selector) == set(crd_selector)
    crd_expression = crd_selector["matchExpressions"]["items"]
    expression = selector["matchExpressions"]["items"]
    assert set(expression["properties"]) == set(crd_expression["properties"])
    assert expression["properties"]["operator"]["enum"] == crd_expression["properties"]["operator"]["enum"]
    assert expression["required"] == crd_expression["required"]
    secret_ref = crd_spec["properties"]["spec"]["properties"]["apiKeySecretRef"]["properties"]
    assert set(schema["properties"]["defaultServer"]["properties"]["apiKeySecretRef"]["properties"]) == set(secret_ref)


WEBHOOK_DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())["webhook"]


@pytest.mark.parametrize(
    "override",
    [
        {"replicaCount": 0},
        {"replicaCount": "2"},
        {"replicas": 0},
        {"logFormat": "xml"},
        {"logLevel": "trace"},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"image": {"repository": "x", "tag": 1, "pullPolicy": "IfNotPresent"}},
        {"server": {"url": "ftp://example.com"}},
        {"metrics": {"enabled": True, "port": 8080}},
        {"typoedKey": True},
        {"defaultServer": {"create": "yes", "name": "default"}},
        {"defaultServer": {"create": True, "name": "Not_A_Name"}},
        {"defaultServer": {"create": True, "name": "default", "url": "ftp://agents.example.com"}},
        {"defaultServer": {"create": True, "name": "default", "apiKeySecretRef": {"name": "k", "key": ""}}},
        {"defaultServer": {"create": True, "name": "d",
                           "apiKeySecretRef": {"name": "k", "key": "a", "namespace": "_"}}},
        {"defaultServer": {"create": True, "name": "default", "conditions": [{}]}},
        *[
            {"webhook": {**WEBHOOK_DEFAULTS, **bad}}
            for bad in (
                {"failurePolicy": "Never"},
                {"timeoutSeconds": 60},
                {"timeoutSeconds": 0},
                {"timeoutSeconds": 5.5},
                {"port": 8080},
                {"port": 0},
                {"configurationName": "validation"},  # kopf's webhook names need 3 segments: HANDLER.validation
                {"configurationName": ""},
                {"enabled": "true"},
                {"certManager": {"enabled": True, "issuerRef": {"name": "ca", "kind": ""}}},
                {"certManager": {"enabled": True, "issuer": "ca"}},
                {"typo": 1},
            )
        ],
        {"defaultServer": {"create": True, "name": "default", "conditions": [{"namespaceRegex": [".*"]}]}},
        {"defaultServer": {"create": True, "name": "default", "conditions": [{"namespaces": "team-a"}]}},
        {
            "defaultServer": {
                "create": True,
                "name": "default",
                "conditions": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Like"}]}}],
            }
        },
    ],
)
def test_schema_rejects_bad_values(override):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**_values(), **override}, _schema(), cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize(
    "webhook",
    [
        {"failurePolicy": "Fail", "timeoutSeconds": 30},
        {"timeoutSeconds": 1, "port": 10443},
        {"configurationName": "lgcron-validation.example.com"},
        {"enabled": False},
        {"certManager": {"enabled": True, "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}},
        {"certManager": {"enabled": True, "issuerRef": {"name": "pca", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"}}},
    ],
)
def test_schema_accepts_webhook_values(webhook):
    jsonschema.validate({**_values(), "webhook": {**WEBHOOK_DEFAULTS, **webhook}}, _schema(), cls=jsonschema.Draft7Validator)


def test_replica_count_is_helm_creates_name_and_replicas_a_deprecated_alias():
    values, schema = _values(), _schema()
    assert "replicaCount" in schema["required"] and "replicas" not in schema["required"]
    # The alias must not be in values.yaml: the templates tell "set by the user" by its presence.
    assert "replicas" not in values and DEPRECATED_ALIASES["replicas"] in values
    assert "Deprecated" in schema["properties"]["replicas"]["description"]


@pytest.mark.parametrize(
    "override",
    [{"replicaCount": 2}, {"replicas": 2}, {"replicas": None}, {"replicaCount": 3, "replicas": 2}],
    ids=["replicaCount", "old-replicas", "old-replicas-unset", "both"],
)
def test_schema_accepts_replica_count_and_the_old_replicas(override):
    jsonschema.validate({**_values(), **override}, _schema(), cls=jsonschema.Draft7Validator)


# ---------------------------------------------------------------- CRDs


CRD_FILES = sorted(all_crds())  # langgraphcron.yaml, langgraphserver.yaml, clusterlanggraphserver.yaml


@pytest.mark.parametrize("name", CRD_FILES)
def test_chart_crd_template_is_generated_from_the_models(name):
    assert (CHART / "templates" / "crds" / name).read_text() == render_helm_crd_template(all_crds()[name]), (
        f"the chart's CRD template {name} is stale: run `python -m langgraph_cron.core.crd --write`"
    )


@pytest.mark.parametrize("name", CRD_FILES)
def test_chart_crd_equals_the_committed_crd(name):
    source = (CHART / "templates" / "crds" / name).read_text()
    actions = gotemplate.check(source)
    assert actions[1].body == "if .Values.crds.install" and actions[-1].keyword == "end", "gated by crds.install"
    [crd] = [doc for doc in yaml.safe_load_all(gotemplate.strip(source)) if doc]
    assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert crd["metadata"].pop("labels") is None  # the stripped `include "...labels"` line
    assert crd == yaml.safe_load((ROOT / "crds" / name).read_text())


def crd_template_with_description(monkeypatch, description: str) -> str:
    crd = crd_module.build_crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = description
    monkeypatch.setattr(crd_module, "build_crd", lambda: crd)
    return crd_module.render_helm_crd_template()


def test_template_braces_in_descriptions_stay_text(monkeypatch):
    source = crd_template_with_description(monkeypatch, "e.g. {{ .Values.secret }} or }}")
    bodies = [action.body for action in gotemplate.check(source)]
    assert '"{{"' in bodies and not any(".Values.secret" in body for body in bodies)


def test_kopf_peering_crds_are_kopfs():
    crds = [d for d in yaml.safe_load_all((CHART / "crds" / "kopf-peering.yaml").read_text()) if d]
    assert {(c["metadata"]["name"], c["spec"]["scope"], c["spec"]["names"]["kind"]) for c in crds} == {
        ("clusterkopfpeerings.kopf.dev", "Cluster", "ClusterKopfPeering"),
        ("kopfpeerings.kopf.dev", "Namespaced", "KopfPeering"),
    }
    for crd in crds:
        [version] = crd["spec"]["versions"]
        assert version["name"] == "v1" and version["served"] and version["storage"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True  # kopf writes its peers there
