"""The committed CRD is exactly what the models generate, and it is a valid structural schema."""

from pathlib import Path

import yaml
from langgraph_cron.crd import build_crd, render_crd_yaml

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
        "crds/langgraphcron.yaml is stale: run `python -m langgraph_cron.crd > crds/langgraphcron.yaml`"
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
