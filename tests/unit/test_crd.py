"""The committed CRDs are exactly what the models generate, and they are valid structural schemas."""

from pathlib import Path

import pytest
import yaml
from langgraph_cron.core.crd import (
    all_crds,
    build_crd,
    build_server_crd,
    render_crd_yaml,
)

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "langgraphcron.yaml"


def _walk(node, path="openAPIV3Schema"):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")


def _schema():
    return build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crd_matches_the_models():
    assert CRD_FILE.read_text() == render_crd_yaml(), (
        "crds/langgraphcron.yaml is stale: run `python -m langgraph_cron.core.crd > crds/langgraphcron.yaml`"
    )


def test_crd_identity_names_and_status_subresource():
    crd = yaml.safe_load(CRD_FILE.read_text())
    assert crd["metadata"]["name"] == "langgraphcrons.lgcron.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("lgcron.io", "Namespaced")
    assert spec["names"]["kind"] == "LangGraphCron"
    assert spec["names"]["shortNames"] == ["lgcron", "lgc"]
    assert spec["names"]["categories"] == ["langgraph"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Schedule"] == ".spec.schedule"
    assert columns["Timezone"] == ".spec.timezone"
    assert columns["Assistant"] == ".spec.assistantId"
    assert columns["Next Run"] == ".status.nextRunDate"
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_schema_is_structural_no_refs_and_every_node_typed():
    text = render_crd_yaml()
    assert "$ref" not in text and "anyOf" not in text and "$defs" not in text
    for path, node in _walk(_schema()):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"


def test_every_spec_and_status_field_has_a_description():
    for path, node in _walk(_schema()):
        if path.count(".") >= 2 and not path.endswith("[]") and not path.startswith("openAPIV3Schema.metadata"):
            assert node.get("description"), f"{path} has no description"


def test_required_fields_and_enums_carry_over():
    spec = _schema()["properties"]["spec"]
    assert spec["required"] == ["schedule", "assistantId"]
    props = spec["properties"]
    assert props["multitaskStrategy"]["enum"] == ["reject", "rollback", "interrupt", "enqueue"]
    assert props["durability"]["enum"] == ["sync", "async", "exit"]
    assert props["onRunCompleted"]["enum"] == ["delete", "keep"]
    assert props["deletionPolicy"] == {**props["deletionPolicy"], "enum": ["Delete", "Orphan"], "default": "Delete"}
    assert props["backend"]["enum"] == ["agentServer", "cronJob"]
    assert props["server"]["properties"]["apiKeySecretRef"]["required"] == ["name", "key"]


def test_free_form_fields_preserve_unknown_fields_and_are_not_case_converted():
    props = _schema()["properties"]["spec"]["properties"]
    for name in ("input", "metadata", "context"):
        assert props[name]["x-kubernetes-preserve-unknown-fields"] is True
        assert "properties" not in props[name]
    configurable = props["config"]["properties"]["configurable"]
    assert configurable["x-kubernetes-preserve-unknown-fields"] is True
    assert set(props["config"]["properties"]) == {"tags", "recursionLimit", "configurable"}


def test_conditions_are_a_map_list_keyed_by_type():
    conditions = _schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]


# ---------------------------------------------------------------- LangGraphServer and ClusterLangGraphServer

CRDS = CRD_FILE.parent
SERVER_FILES = {"langgraphserver.yaml": False, "clusterlanggraphserver.yaml": True}  # file -> cluster-scoped


def test_all_crds_names_every_file_of_crds_folder():
    assert set(all_crds()) == {"langgraphcron.yaml", *SERVER_FILES}
    assert sorted(all_crds()) == sorted(p.name for p in CRDS.glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(SERVER_FILES))
def test_committed_server_crd_matches_the_models(name):
    generated = render_crd_yaml(build_server_crd(cluster=SERVER_FILES[name]))
    assert generated == render_crd_yaml(all_crds()[name])
    assert (CRDS / name).read_text() == generated, (
        f"crds/{name} is stale: run `python -m langgraph_cron.core.crd --write`"
    )


SERVER_IDENTITY = {
    "langgraphserver.yaml": ("langgraphservers", "LangGraphServer", "langgraphserver", ["lgs"], "Namespaced"),
    "clusterlanggraphserver.yaml": (
        "clusterlanggraphservers",
        "ClusterLangGraphServer",
        "clusterlanggraphserver",
        ["clgs"],
        "Cluster",
    ),
}


@pytest.mark.parametrize("name", sorted(SERVER_FILES))
def test_server_crd_identity_scope_names_and_status_subresource(name):
    plural, kind, singular, short_names, scope = SERVER_IDENTITY[name]
    crd = yaml.safe_load((CRDS / name).read_text())
    assert crd["metadata"]["name"] == f"{plural}.lgcron.io"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("lgcron.io", scope)
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
        "shortNames": short_names,
        "categories": ["langgraph"],
    }
    [version] = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


def test_short_names_and_plurals_do_not_collide():
    names = [yaml.safe_load((CRDS / name).read_text())["spec"]["names"] for name in all_crds()]
    every = [n["plural"] for n in names] + [n["singular"] for n in names] + [s for n in names for s in n["shortNames"]]
    assert len(every) == len(set(every)), every


@pytest.mark.parametrize("name", sorted(SERVER_FILES))
def test_server_printer_columns(name):
    [version] = yaml.safe_load((CRDS / name).read_text())["spec"]["versions"]
    ready = '.status.conditions[?(@.type=="Ready")]'
    columns = [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("URL", "string", ".spec.url", 0),
        ("Ready", "string", f"{ready}.status", 0),
        ("Crons", "integer", ".status.cronCount", 0),
        ("Version", "string", ".status.serverVersion", 0),
        ("Reason", "string", f"{ready}.reason", 1),
        ("Age", "date", ".metadata.creationTimestamp", 0),
    ]
    # Every column reads a field the schema declares (kubectl prints <none> for a path that never exists).
    schema = version["schema"]["openAPIV3Schema"]
    for _, _, path, _ in columns:
        if path.startswith(".metadata."):
            continue
        node = schema
        for part in path.split("[")[0].lstrip(".").split("."):
            node = node["properties"][part]
        assert node.get("type"), path


def _server_schema(cluster: bool) -> dict:
    return build_server_crd(cluster=cluster)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("cluster", [False, True], ids=["LangGraphServer", "ClusterLangGraphServer"])
def test_server_schema_is_structural_no_refs_and_every_node_typed(cluster):
    text = render_crd_yaml(build_server_crd(cluster=cluster))
    assert "$ref" not in text and "anyOf" not in text and "$defs" not in text
    for path, node in _walk(_server_schema(cluster)):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{path} has no type"


@pytest.mark.parametrize("cluster", [False, True], ids=["LangGraphServer", "ClusterLangGraphServer"])
def test_every_server_spec_and_status_field_has_a_description(cluster):
    """`kubectl explain clgs.spec.conditions.namespaceSelector` (and every other field) has something to say."""
    checked = []
    for path, node in _walk(_server_schema(cluster)):
        if path == "openAPIV3Schema" or path.startswith("openAPIV3Schema.metadata") or path.endswith("[]"):
            continue
        assert node.get("description"), f"{path} has no description"
        checked.append(path.removeprefix("openAPIV3Schema."))
    # The walk reaches the fields the brief of each kind names (so this test cannot pass by walking nothing).
    for field in (
        "spec.url",
        "spec.apiKeySecretRef.name",
        "spec.apiKeySecretRef.key",
        "spec.caBundle",
        "spec.caBundleRef.kind",
        "spec.caBundleRef.name",
        "spec.caBundleRef.key",
        "spec.requestTimeoutSeconds",
        "spec.maxConcurrentRequests",
        "status.observedGeneration",
        "status.conditions",
        "status.conditions[].reason",
        "status.url",
        "status.boundUrls",
        "status.serverVersion",
        "status.cronCount",
        "status.inUseBy",
        "status.lastCheckTime",
    ):
        assert field in checked, field
    cluster_only = {
        "spec.apiKeySecretRef.namespace",
        "spec.caBundleRef.namespace",
        "spec.conditions",
        "spec.conditions[].namespaces",
        "spec.conditions[].namespaceSelector",
        "spec.conditions[].namespaceSelector.matchLabels",
        "spec.conditions[].namespaceSelector.matchExpressions",
        "spec.conditions[].namespaceSelector.matchExpressions[].key",
        "spec.conditions[].namespaceSelector.matchExpressions[].operator",
        "spec.conditions[].namespaceSelector.matchExpressions[].values",
        "spec.conditions[].namespaceRegexes",
    }
    if cluster:
        assert cluster_only <= set(checked), sorted(cluster_only - set(checked))
    else:
        assert not cluster_only & set(checked), sorted(cluster_only & set(checked))


@pytest.mark.parametrize("cluster", [False, True], ids=["LangGraphServer", "ClusterLangGraphServer"])
def test_server_required_fields_and_enums(cluster):
    schema = _server_schema(cluster)
    assert schema["required"] == ["spec"]
    spec = schema["properties"]["spec"]
    assert spec["required"] == ["url"]
    props = spec["properties"]
    assert props["url"]["type"] == "string" and props["url"]["pattern"] == "^https?://"
    namespaced = ["namespace"] if cluster else []
    assert props["apiKeySecretRef"]["required"] == ["name", "key", *namespaced]
    assert props["caBundleRef"]["required"] == ["kind", "name", "key", *namespaced]
    assert props["caBundleRef"]["properties"]["kind"]["enum"] == ["ConfigMap", "Secret"]
    assert props["maxConcurrentRequests"]["type"] == "integer" and props["maxConcurrentRequests"]["minimum"] == 1
    assert props["requestTimeoutSeconds"]["type"] == "number"
    assert ("conditions" in props) is cluster
    if cluster:
        entry = props["conditions"]["items"]["properties"]
        assert set(entry) == {"namespaces", "namespaceSelector", "namespaceRegexes"}
        expression = entry["namespaceSelector"]["properties"]["matchExpressions"]["items"]["properties"]
        assert expression["operator"]["enum"] == ["In", "NotIn", "Exists", "DoesNotExist"]
        assert entry["namespaceSelector"]["properties"]["matchLabels"]["additionalProperties"] == {"type": "string"}


@pytest.mark.parametrize("cluster", [False, True], ids=["LangGraphServer", "ClusterLangGraphServer"])
def test_server_status_conditions_are_a_map_list_and_bookkeeping_is_free_form(cluster):
    status = _server_schema(cluster)["properties"]["status"]["properties"]
    assert status["conditions"]["x-kubernetes-list-type"] == "map"
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in status["conditions"]["items"]["required"]
    assert status["kopf"]["x-kubernetes-preserve-unknown-fields"] is True
    assert status["cronCount"]["type"] == status["inUseBy"]["type"] == "integer"
    assert status["boundUrls"] == {**status["boundUrls"], "type": "array", "items": {"type": "string"}}


# ---------------------------------------------------------------- what the apiserver accepts, for every CRD

# Kubernetes' apiextensions/v1 JSONSchemaProps: each field the generator may emit, and its Go type. JSON
# Schema 2020-12 (pydantic's dialect) differs in places: there `exclusiveMinimum: 0` is a number, here a
# bool beside `minimum`, and a number makes the apiserver reject the whole CRD ("cannot unmarshal number
# into Go struct field JSONSchemaProps...exclusiveMinimum of type bool").
_BOOL = ("exclusiveMinimum", "exclusiveMaximum", "uniqueItems", "nullable", "x-kubernetes-preserve-unknown-fields",
         "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string")
_NUMBER = ("maximum", "minimum", "multipleOf")
_INT = ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties")
_STR = ("description", "type", "format", "title", "pattern", "x-kubernetes-list-type", "x-kubernetes-map-type")
_STR_LIST = ("required", "x-kubernetes-list-map-keys")
_ANY = ("default", "example", "enum", "x-kubernetes-validations")
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def _schema_nodes(node, path):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _schema_nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_schema_uses_only_jsonschemaprops_fields_with_their_kubernetes_types(name):
    [version] = all_crds()[name]["spec"]["versions"]
    for path, node in _schema_nodes(version["schema"]["openAPIV3Schema"], "openAPIV3Schema"):
        for key, value in node.items():
            where = f"{name}: {path}.{key} = {value!r}"
            if key in _BOOL:
                assert isinstance(value, bool), f"{where}: must be true/false (OpenAPI v3, not JSON Schema 2020-12)"
            elif key in _NUMBER:
                assert isinstance(value, int | float) and not isinstance(value, bool), where
            elif key in _INT:
                assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, where
            elif key in _STR:
                assert isinstance(value, str), where
            elif key in _STR_LIST:
                assert isinstance(value, list) and all(isinstance(v, str) for v in value), where
            elif key in ("properties",):
                assert isinstance(value, dict), where
            elif key in ("items", "additionalProperties"):
                assert isinstance(value, dict | bool), where
            else:
                assert key in _ANY, f"{where}: not a JSONSchemaProps field"
        if "type" in node:
            assert node["type"] in _TYPES, f"{name}: {path} has type {node['type']!r}"
        if node.get("exclusiveMinimum"):
            assert "minimum" in node, f"{name}: {path}: exclusiveMinimum without minimum"
        if node.get("exclusiveMaximum"):
            assert "maximum" in node, f"{name}: {path}: exclusiveMaximum without maximum"


def test_kubectl_get_fits_a_160_column_terminal():
    """kubectl pads each column to its widest cell plus 3 spaces: a realistic wide row must fit."""
    version = build_crd()["spec"]["versions"][0]
    shown = [c for c in version["additionalPrinterColumns"] if not c.get("priority")]
    wide_values = {  # a long-ish name, a UUID assistant, the longest results and timezones in use
        "Schedule": "0 9 * * 1-5", "Timezone": "America/New_York", "Assistant": "5f0c1d4e-0000-4000-8000-000000000000",
        "Next Run": "2026-12-02T09:00:00Z", "Ready": "False", "Last Run": "23h", "Last Result": "Succeeded",
        "Age": "45d",
    }
    assert [c["name"] for c in shown] == list(wide_values), "a new column needs a realistic width here"
    widths = [len("nightly-report-team-a")] + [max(len(c["name"]), len(wide_values[c["name"]])) for c in shown]
    assert sum(widths) + 3 * (len(widths) - 1) <= 160, widths
