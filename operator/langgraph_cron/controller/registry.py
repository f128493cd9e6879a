"""The latest body of every LangGraphCron, by uid, as kopf's index holds it: what the passes read."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

# Never read from a stored body, and large: the apiserver's managedFields are a few KB on every
# object, and `kubectl apply` keeps a second copy of the whole spec in an annotation.
_UNUSED_METADATA = frozenset({"managedFields"})
_UNUSED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def slim_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without what no reader of the registry uses, so that N stored bodies cost little."""
    meta = {k: v for k, v in body["metadata"].items() if k not in _UNUSED_METADATA}
    if annotations := meta.get("annotations"):
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in _UNUSED_ANNOTATIONS}
    return {**body, "metadata": meta}


class BodyRegistry(Mapping[str, dict[str, Any]]):
    """The latest body of every LangGraphCron by uid, kept by the event handler `lgcron_bodies` (crons.py),
    in the shape of a kopf index (uid -> a store of one body)."""

    def __init__(self) -> None:
        self.index: dict[str, list[dict[str, Any]]] = {}

    def remember(self, uid: str, body: dict[str, Any]) -> None:
        self.index[uid] = [body]

    def forget(self, uid: str) -> None:
        self.index.pop(uid, None)

    def __getitem__(self, uid: str) -> dict[str, Any]:
        for body in self.index[uid] if self.index is not None else ():
            return body
        raise KeyError(uid)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.index) if self.index is not None else ())

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else 0

    # A pass walks every body: straight through kopf's stores, not a key lookup per body.
    def items(self) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[override]
        return [(uid, body) for uid, store in (self.index.items() if self.index is not None else ())
                for body in itertools.islice(store, 1)]

    def values(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [body for _, body in self.items()]
