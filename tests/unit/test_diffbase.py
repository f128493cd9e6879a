"""kopf's change detection kept as a digest in status.kopf (langgraph_cron/diffbase.py)."""

from __future__ import annotations

import copy

import kopf
from langgraph_cron.controller.diffbase import DIGEST_KEY, StatusDigestDiffBaseStorage

BODY = {
    "apiVersion": "lgcron.io/v1alpha1",
    "kind": "LangGraphCron",
    "metadata": {"name": "n", "namespace": "ns", "uid": "u", "resourceVersion": "7", "labels": {"team": "a"},
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "spec": {"schedule": "@daily", "assistantId": "agent", "input": {"text": "x" * 300_000}},
    "status": {"observedGeneration": 1},
}


def storage() -> StatusDigestDiffBaseStorage:
    return StatusDigestDiffBaseStorage()


def handled(raw: dict) -> dict:
    """The object as it is after kopf stored the diff base of `raw` (the status patch applied)."""
    patch = kopf.Patch()
    store = storage()
    store.store(body=kopf.Body(raw), patch=patch, essence=store.build(body=kopf.Body(raw)))
    result = copy.deepcopy(raw)
    result.setdefault("status", {}).setdefault("kopf", {}).update(patch["status"]["kopf"])
    return result


def changed(raw: dict, edit) -> dict:
    result = copy.deepcopy(raw)
    edit(result)
    return result


def test_the_diff_base_is_a_short_digest_in_the_status_not_a_copy_of_the_spec():
    patch = kopf.Patch()
    store = storage()
    store.store(body=kopf.Body(BODY), patch=patch, essence=store.build(body=kopf.Body(BODY)))
    assert set(patch) == {"status"}, "only the status is written: no metadata (annotation) write"
    digest = patch["status"]["kopf"][DIGEST_KEY]
    assert digest.startswith("sha256:") and len(digest) == 7 + 64


def test_never_handled_is_none_so_kopf_sees_a_creation():
    assert storage().fetch(body=kopf.Body(BODY)) is None


def test_unchanged_object_gives_back_the_current_essence():
    body = kopf.Body(handled(BODY))
    assert storage().fetch(body=body) == storage().build(body=body)


def test_status_metadata_noise_and_kopf_progress_are_not_changes():
    def noise(raw):
        raw["metadata"]["resourceVersion"] = "99"
        raw["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = '{"new": 1}'
        raw["status"]["observedGeneration"] = 5
        raw["status"]["kopf"]["progress"] = {"reconcile_cron": {"retries": 2}}

    body = kopf.Body(changed(handled(BODY), noise))
    assert storage().fetch(body=body) == storage().build(body=body)


def test_spec_label_and_annotation_edits_are_changes():
    edits = [
        lambda raw: raw["spec"].update(schedule="@hourly"),
        lambda raw: raw["metadata"]["labels"].update(team="b"),
        lambda raw: raw["metadata"]["annotations"].update(note="x"),
    ]
    for edit in edits:
        body = kopf.Body(changed(handled(BODY), edit))
        old = storage().fetch(body=body)
        assert old is not None and old != storage().build(body=body)


def test_the_essence_is_kopfs_own():
    """The trimmed copy gives exactly what kopf's stock storage builds from the whole body."""
    raw = changed(handled(BODY), lambda r: r["metadata"].update(
        managedFields=[{"manager": "kubectl"}], generation=3,
        annotations={**r["metadata"]["annotations"], "note": "x", "lgcron.io/kopf-managed": "yes",
                     "lgcron.io/reconcile_cron": "{}"}))
    stock = kopf.AnnotationsDiffBaseStorage(prefix="unrelated.example")
    assert storage().build(body=kopf.Body(raw)) == stock.build(body=kopf.Body(raw))
