"""A LangGraphCron spec as the operator uses it: parsed, checked and made effective, and the tags
that tie a cron on a server to its resource. Pure: nothing here talks to Kubernetes or HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from langgraph_cron.core.models import (
    MAX_NESTING,
    MAX_SPEC_BYTES,
    LangGraphCronSpec,
    nesting_depth,
)
from langgraph_cron.core.schedule import expand_spread, has_spread
from langgraph_cron.core.suggest import unknown_field_message

# Reserved metadata keys stamped on every cron, so a cron can always be traced to its resource
# (and adopted after a crash) even when status.cronId was never written.
UID_KEY = "lgcron.io/uid"
NAMESPACE_KEY = "lgcron.io/namespace"
NAME_KEY = "lgcron.io/name"
# The server rewrites a graph name to the assistant's UUID in the stored cron, so the spec's own
# value is kept here to tell whether spec.assistantId changed.
ASSISTANT_KEY = "lgcron.io/assistant"
# Which cluster's operator owns the cron: two clusters sharing one Agent Server never touch each
# other's crons, and one paged search per server finds all of this cluster's crons.
CLUSTER_KEY = "lgcron.io/cluster"
# Set on a cron left behind on purpose (deletionPolicy: Orphan): never an orphan to audit or GC.
RELEASED_KEY = "lgcron.io/released"


@dataclass(frozen=True)
class Identity:
    """Who owns a cron: a Kubernetes object (by uid), or in file mode a file's namespace/name."""

    uid: str | None
    namespace: str
    name: str
    cluster: str | None = None

    def metadata(self) -> dict[str, str]:
        tags = {NAMESPACE_KEY: self.namespace, NAME_KEY: self.name}
        if self.cluster:
            tags[CLUSTER_KEY] = self.cluster
        return {UID_KEY: self.uid, **tags} if self.uid else tags

    @property
    def search_filter(self) -> dict[str, str]:
        # File mode has no uid: namespace/name make re-applying the same file idempotent.
        return {UID_KEY: self.uid} if self.uid else {NAMESPACE_KEY: self.namespace, NAME_KEY: self.name}

    def owns(self, cron_metadata: dict[str, Any]) -> bool:
        """File mode must not take over the cron of a Kubernetes object with the same namespace/name."""
        return cron_metadata.get(UID_KEY) == self.uid



# ---------------------------------------------------------------- spec validation


class InvalidSpec(Exception):
    """The spec cannot become a cron; the message names the field and the problem."""

    reason = "InvalidSpec"


class ServerNotAllowed(InvalidSpec):
    """spec.server.url is outside the operator's LGCRON_ALLOWED_SERVER_URLS: no request goes there."""

    reason = "ServerNotAllowed"


def _field_path(loc: tuple[Any, ...]) -> str:
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_spec(raw: dict[str, Any] | None) -> LangGraphCronSpec:
    """Validate a raw spec; raise InvalidSpec naming each bad field and why."""
    _check_size_and_depth(raw or {})
    try:
        # Strict JSON validation by alias: exactly what the CRD schema admits ("false" is not a
        # boolean, end_time is not endTime), so the operator and `lgcron validate` agree with kubectl.
        spec = LangGraphCronSpec.model_validate_json(json.dumps(raw or {}), strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":  # kubectl refuses it by name: say which field was meant
                message = unknown_field_message(LangGraphCronSpec, loc)
            problems.setdefault(_field_path(loc), []).append(message)
        # A union field fails once per alternative: say them together ("... or ...").
        raise InvalidSpec(
            "; ".join(
                # A rule across fields (loc ()) names its fields itself.
                msg if path == "spec" and msg.startswith("spec.") else f"{path}: {msg}"
                for path, msgs in problems.items()
                for msg in [" or ".join(dict.fromkeys(msgs))]
            )
        ) from None
    return spec


def _check_size_and_depth(raw: dict[str, Any]) -> None:
    """Bounds checked on the raw spec, before anything that could recurse or buffer it (json.dumps)."""
    for name, value in raw.items():
        depth = nesting_depth(value)
        if depth > MAX_NESTING:
            raise InvalidSpec(f"spec.{name}: nested {depth} levels deep; at most {MAX_NESTING} are allowed")
    sizes = {name: len(json.dumps(value, separators=(",", ":"), default=str)) for name, value in raw.items()}
    if sum(sizes.values()) > MAX_SPEC_BYTES:
        largest = max(sizes, key=sizes.__getitem__)
        raise InvalidSpec(
            f"spec.{largest}: is {sizes[largest]} bytes of JSON; the whole spec may be at most "
            f"{MAX_SPEC_BYTES // 1024} KiB (Kubernetes caps an object's annotations, where kopf keeps the spec, at 256 KiB)"
        )


def _is_union_tag(part: Any) -> bool:
    """pydantic names union alternatives in error locations (e.g. "list[str]"); users never wrote those."""
    return isinstance(part, str) and ("[" in part or "'" in part or part in {"str", "int", "bool", "float"})


def effective(spec: LangGraphCronSpec, namespace: str, name: str) -> LangGraphCronSpec:
    """The spec as the backend gets it: any H of its schedule expanded for this namespace/name."""
    if not has_spread(spec.schedule):
        return spec
    return spec.model_copy(update={"schedule": expand_spread(spec.schedule, f"{namespace}/{name}")})




def parse_effective(raw: dict[str, Any] | None, namespace: str, name: str) -> LangGraphCronSpec:
    """The one way from a raw spec to what reconcile, resync, the run observer and the CLI act on:
    validated (InvalidSpec naming the field), with any H of its schedule expanded."""
    return effective(parse_spec(raw), namespace, name)
