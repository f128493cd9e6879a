"""A LangGraphCron as the engine handles it, and what handling it produced. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph_cron.core.models import RESERVED_METADATA_PREFIX, LangGraphCronStatus
from langgraph_cron.core.spec import Identity
from langgraph_cron.core.status import EventRecord


@dataclass(frozen=True)
class CronObject:
    """A LangGraphCron as the service needs it: identity, raw spec (validated later), status."""

    identity: Identity
    generation: int | None
    raw_spec: dict[str, Any]
    status: LangGraphCronStatus
    resource_version: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Any, *, cluster: str | None = None) -> CronObject:
        meta = body["metadata"]
        return cls(
            identity=Identity(uid=meta["uid"], namespace=meta["namespace"], name=meta["name"], cluster=cluster),
            generation=meta.get("generation"),
            raw_spec=dict(body.get("spec") or {}),
            status=LangGraphCronStatus.model_validate(dict(body.get("status") or {})),
            resource_version=meta.get("resourceVersion"),
            # Only the operator's own (lgcron.io/trigger, lgcron.io/resume): the rest is none of its business.
            annotations={k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(RESERVED_METADATA_PREFIX)},
        )


@dataclass
class Result:
    status: LangGraphCronStatus
    events: list[EventRecord] = field(default_factory=list)
    # Seconds until the next attempt; None when done (or waiting for a spec change).
    retry_after: float | None = None
    done: bool = True
