"""Where kopf keeps its bookkeeping: all of it in `status.kopf`, written with the status itself.

kopf's stock "diff base" keeps a full copy of the last handled spec, by default in an annotation.
This operator never reads kopf's per-field diff (every handler reconciles from the whole spec),
so a digest is enough to tell "changed since last handled" from "unchanged". That avoids:

* a metadata write apart from the status write: each handled change cost two writes, and two
  watch events for every watcher of the resource, instead of one;
* doubling the object: an apiserver caps annotations at 256 KiB, so a large (invalid) spec could
  never be marked handled, and its InvalidSpec condition was never written.

Retry progress goes to `status.kopf.progress` for the same reason (one write per retry, not two).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import kopf

KOPF_STATUS = "kopf"  # LangGraphCronStatus.kopf: free-form in the CRD
DIGEST_KEY = "handledDigest"


def essence_digest(essence: Any) -> str:
    canonical = json.dumps(essence, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def progress_storage() -> kopf.ProgressStorage:
    return kopf.StatusProgressStorage(field=f"status.{KOPF_STATUS}.progress")


class StatusDigestDiffBaseStorage(kopf.DiffBaseStorage):
    """Stores `sha256:<hex>` of kopf's essence (spec, labels, annotations) in status.kopf.handledDigest.

    kopf strips its progress records from the essence before it stores it; with the progress in
    the status (`progress_storage`), which the essence never includes, that changes nothing, so
    `fetch` can digest the plain essence. The handlers use no `field=` filters, so kopf asks for
    no extra fields in the essence either.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        # kopf's essence is the body minus status and all metadata but labels and annotations,
        # taken from a deep copy of the whole body (status, managedFields and all) on every
        # event. Hand it the parts it keeps: the same essence, for a fraction of the copying.
        if not extra_fields:
            meta = body.get("metadata") or {}
            trimmed = {key: value for key, value in body.items() if key not in ("metadata", "status")}
            trimmed["metadata"] = {key: meta[key] for key in ("labels", "annotations") if key in meta}
            body = trimmed
        return super().build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: kopf.Body) -> Any:
        stored = ((body.get("status") or {}).get(KOPF_STATUS) or {}).get(DIGEST_KEY)
        if stored is None:
            return None  # never handled: kopf sees a creation
        current = self.build(body=body)
        if essence_digest(current) == stored:
            return current  # kopf compares old with new: equal, nothing changed
        # kopf needs *an* old essence to diff with; the digest is all there is, and it differs
        # from the current essence, which is what makes kopf call the update handlers.
        return {DIGEST_KEY: stored}

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        patch.status.setdefault(KOPF_STATUS, {})[DIGEST_KEY] = essence_digest(essence)
