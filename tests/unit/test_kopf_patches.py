"""kopf_patches builds the same JSON-patch operations as kopf, without copying whole bodies."""

from __future__ import annotations

import copy
import functools

import pytest
from kopf._cogs.structs import finalizers, patches
from langgraph_cron.controller import kopf_patches

FINALIZER = "lgcron.io/cleanup"
MANAGED_FIELDS = [{"manager": f"m{i}", "operation": "Update", "fieldsV1": {"f:spec": {f"f:k{j}": {} for j in range(50)}}}
                  for i in range(5)]


def body(finalizer_list: list[str] | None) -> dict:
    meta = {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "7", "managedFields": MANAGED_FIELDS}
    if finalizer_list is not None:
        meta["finalizers"] = finalizer_list
    return {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron", "metadata": meta,
            "spec": {"schedule": "* * * * *"}, "status": {"cronId": "c"}}


CASES = {
    "add to none": (finalizers.block_deletion, None),
    "add to others": (finalizers.block_deletion, ["other"]),
    "add when present": (finalizers.block_deletion, ["other", FINALIZER]),
    "remove the only": (finalizers.allow_deletion, [FINALIZER]),
    "remove among others": (finalizers.allow_deletion, ["x", FINALIZER, "y"]),
    "remove when absent": (finalizers.allow_deletion, ["x"]),
}


@pytest.mark.parametrize("case", CASES)
def test_finalizer_ops_are_kopfs(case):
    fn, existing = CASES[case]
    patch = patches.Patch(fns=[functools.partial(fn, finalizer=FINALIZER)])
    original = body(existing)
    before = copy.deepcopy(original)
    assert kopf_patches.lean_as_json_patch(patch, original) == kopf_patches._kopf_as_json_patch(patch, original)
    assert original == before  # the reference body is left as it was


def test_finalizer_op_is_what_the_api_needs():
    patch = patches.Patch(fns=[functools.partial(finalizers.block_deletion, finalizer=FINALIZER)])
    assert kopf_patches.lean_as_json_patch(patch, body(["other"])) == [
        {"op": "add", "path": "/metadata/finalizers/1", "value": FINALIZER}]


def test_empty_patch_has_no_ops_and_copies_nothing(monkeypatch):
    def no_copies(*_args, **_kwargs):
        raise AssertionError("deep-copied a body for an empty patch")

    monkeypatch.setattr(kopf_patches, "_kopf_as_json_patch", no_copies)
    assert kopf_patches.lean_as_json_patch(patches.Patch(), body(None)) == []


def test_other_patches_go_to_kopf(monkeypatch):
    calls = []
    monkeypatch.setattr(kopf_patches, "_kopf_as_json_patch", lambda patch, b=None: calls.append(patch) or ["kopf's"])
    merge_and_fn = patches.Patch({"status": {"a": 1}}, fns=[functools.partial(finalizers.block_deletion, finalizer=FINALIZER)])
    other_fn = patches.Patch(fns=[lambda b: b.setdefault("spec", {}).update(x=1)])
    assert kopf_patches.lean_as_json_patch(merge_and_fn, body(None)) == ["kopf's"]
    assert kopf_patches.lean_as_json_patch(other_fn, body(None)) == ["kopf's"]
    assert len(calls) == 2


def test_installed_with_the_handlers():
    import langgraph_cron.controller  # noqa: F401  (installs it)

    assert patches.Patch.as_json_patch is kopf_patches.lean_as_json_patch


def test_the_body_kopf_passes_works_too():
    """kopf hands its own Body view (the event's body) when nothing was merge-patched before."""
    from kopf._cogs.structs.bodies import Body

    patch = patches.Patch(fns=[functools.partial(finalizers.block_deletion, finalizer=FINALIZER)])
    raw = body(["other"])
    assert kopf_patches.lean_as_json_patch(patch, Body(raw)) == kopf_patches._kopf_as_json_patch(patch, Body(raw))
    assert kopf_patches.lean_as_json_patch(patch, Body(raw)) == [
        {"op": "add", "path": "/metadata/finalizers/1", "value": FINALIZER}]
