"""The resync registry keeps every LangGraphCron's body: without the parts nobody reads, which are big."""

from langgraph_cron.controller.registry import slim_body
from langgraph_cron.core.objects import CronObject

BODY = {
    "apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron",
    "metadata": {
        "name": "nightly", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42", "generation": 3,
        "finalizers": ["lgcron.io/cleanup"], "labels": {"team": "a"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"spec": "a second copy"}', "note": "kept"},
        "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {"schedule": "0 7 * * *", "assistantId": "agent"},
    "status": {"cronId": "c-1", "observedGeneration": 3},
}


def test_slim_body_drops_managed_fields_and_the_last_applied_copy_only() -> None:
    slim = slim_body(BODY)
    assert "managedFields" not in slim["metadata"]
    assert slim["metadata"]["annotations"] == {"note": "kept"}
    expected_meta = {k: v for k, v in BODY["metadata"].items() if k not in ("managedFields", "annotations")}
    assert {k: v for k, v in slim["metadata"].items() if k != "annotations"} == expected_meta
    assert (slim["spec"], slim["status"], slim["kind"]) == (BODY["spec"], BODY["status"], BODY["kind"])
    assert "managedFields" in BODY["metadata"], "the body kopf passed in is left as it was"


def test_a_slim_body_still_makes_the_same_cron_object() -> None:
    assert CronObject.from_body(slim_body(BODY), cluster="c") == CronObject.from_body(BODY, cluster="c")


def test_a_cron_its_server_refuses_does_not_hold_the_servers_deletion():
    from langgraph_cron.core.connections import ServerKey
    from langgraph_cron.engine.servers import holders

    key = ServerKey("ClusterLangGraphServer", None, "shared")
    ref = {"kind": "ClusterLangGraphServer", "name": "shared"}

    def cron(name, reason=None, made=False):
        status = {"conditions": [{"type": "Ready", "status": "False", "reason": reason}]} if reason else {}
        if made:
            status["serverRef"] = ref
        return {"metadata": {"namespace": "tenant", "name": name}, "spec": {"serverRef": ref}, "status": status}

    crons = [cron("refused", "ServerNotAllowed"), cron("pending"), cron("made", "ServerNotAllowed", made=True),
             cron("retrying", "ServerUnavailable")]
    assert [c["metadata"]["name"] for c in holders(key, crons)] == ["pending", "made", "retrying"]


def test_a_resync_pass_looks_only_at_objects_kopf_holds_and_has_reconciled_once() -> None:
    from langgraph_cron.engine.passes import in_resync_pass as _in_resync_pass

    reconciled = {**BODY, "status": {**BODY["status"], "conditions": [{"type": "Ready", "status": "True"}]}}
    assert _in_resync_pass(reconciled)
    assert not _in_resync_pass(BODY), "never reconciled: kopf's create handler has it, nothing to parse"
    assert not _in_resync_pass({**reconciled, "status": None})
    assert not _in_resync_pass({**reconciled, "metadata": {**BODY["metadata"], "finalizers": []}})
    assert not _in_resync_pass({**reconciled, "metadata": {**BODY["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}})


def test_the_registry_reads_kopfs_index_one_body_per_object() -> None:
    from langgraph_cron.controller.registry import BodyRegistry

    registry = BodyRegistry()
    assert (list(registry.items()), list(registry.values()), len(registry)) == ([], [], 0)
    registry.index = {"u-1": [BODY], "u-2": [{"metadata": {"uid": "u-2"}}], "u-3": []}  # kopf: uid -> store
    assert registry.items() == [("u-1", BODY), ("u-2", {"metadata": {"uid": "u-2"}})]
    assert registry.values() == [BODY, {"metadata": {"uid": "u-2"}}]
    assert registry["u-1"] is BODY and registry.get("u-3") is None and "u-3" not in registry
