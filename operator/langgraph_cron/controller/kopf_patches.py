"""A work-around for a kopf cost that grows with the size of every body (README "Benchmark").

kopf builds the JSON patch of its finalizer changes by deep-copying the whole body, applying its
finalizer function to the copy and diffing the two bodies in full; and it makes that deep copy
for every patch, also when nothing is left to turn into JSON-patch operations (every status
write). On a real API server each body carries `managedFields`, larger than the rest of it: the
copies and diffs were ~7% of the operator's CPU while 1,000 resources were created (py-spy).

`install()` wraps `Patch.as_json_patch`: an empty patch returns at once, and a patch made only of
kopf's finalizer functions (they touch `metadata.finalizers` and nothing else) runs them on a copy
of `metadata` without `managedFields`. The operations are kopf's own (tests/unit/test_kopf_patches.py
compares them); every other patch goes to kopf's implementation unchanged, as does everything if a
kopf release moves the parts this relies on.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import jsonpatch

try:  # kopf's internals: a release may move them, and then kopf's own patch building stays
    from kopf._cogs.structs import finalizers, patches

    _FINALIZER_FNS = (finalizers.block_deletion, finalizers.allow_deletion)
    _kopf_as_json_patch = patches.Patch.as_json_patch
    _KOPF_FITS = hasattr(patches.Patch, "fns")
except (ImportError, AttributeError):
    _KOPF_FITS = False


def _only_finalizer_fns(patch: patches.Patch) -> bool:
    return all(isinstance(fn, functools.partial) and fn.func in _FINALIZER_FNS for fn in patch.fns)


def lean_as_json_patch(self: patches.Patch, body: Any = None) -> list[Any]:
    if not self:
        return []
    base = body if body is not None else getattr(self, "_original", None)
    if len(self) or base is None or not _only_finalizer_fns(self):
        return _kopf_as_json_patch(self, body)
    metadata = {key: value for key, value in (base.get("metadata") or {}).items() if key != "managedFields"}
    to_be = {"metadata": copy.deepcopy(metadata)}
    for fn in self.fns:
        fn(to_be)
    return jsonpatch.JsonPatch.from_diff({"metadata": metadata}, to_be).patch


def install() -> None:
    if not _KOPF_FITS:
        logging.getLogger(__name__).info("kopf's patch internals moved: its own JSON-patch building is used")
        return
    patches.Patch.as_json_patch = lean_as_json_patch  # type: ignore[method-assign]
