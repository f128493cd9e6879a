"""The status of a LangGraphServer or ClusterLangGraphServer after a check. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from langgraph_cron.core.connections import ServerHealth, bound_urls, server_status
from langgraph_cron.core.models import Condition, format_time


def server_status_patch(
    body: Mapping[str, Any], health: ServerHealth, *, in_use: int, now: datetime, deleting: bool = False
) -> dict[str, Any]:
    """The status merge patch for a server object after a check (written every check: a few objects,
    once per resync interval, and lastCheckTime tells an admin the operator is looking)."""
    old = server_status(body)
    generation = body["metadata"].get("generation")
    previous = old.condition("Ready")
    status = "True" if health.ready else "False"
    conditions = [Condition(
        type="Ready", status=status, reason=health.reason, message=health.message, observed_generation=generation,
        last_transition_time=(
            format_time(now) if previous is None or previous.status != status else previous.last_transition_time
        ),
    )]
    if deleting and in_use:
        held = old.condition("Terminating")
        conditions.append(Condition(
            type="Terminating", status="True", reason="InUse",
            message=f"deletion held: {in_use} LangGraphCron(s) still refer to it; it completes when none does",
            observed_generation=generation,
            last_transition_time=held.last_transition_time if held else format_time(now),
        ))
    # Only a URL that answered is bound for good: a typo'd URL must not keep the key after it is fixed.
    urls = bound_urls(body, health.url if health.ready else None)
    return {
        "observedGeneration": generation,
        "conditions": [c.model_dump(by_alias=True, exclude_none=True) for c in conditions],
        "url": health.url or None,
        "boundUrls": urls or None,
        "serverVersion": health.version,
        "cronCount": health.cron_count,
        "inUseBy": in_use,
        "lastCheckTime": format_time(now),
    }
