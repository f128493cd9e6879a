"""Orphaned crons: crons this cluster's operator made whose LangGraphCron no longer exists. Pure.

A resource can vanish without its finalizer running (finalizers removed by hand, a namespace
force-deleted while the operator was down, an etcd restore), and its cron then runs and costs
money forever. `find_orphans` is the decision; `lgcron audit` (cli/audit.py) and the operator's
periodic garbage collection (engine/gc.py, LGCRON_GC_INTERVAL) do the I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from langgraph_cron.core.models import format_time
from langgraph_cron.core.spec import (
    CLUSTER_KEY,
    NAME_KEY,
    NAMESPACE_KEY,
    RELEASED_KEY,
    UID_KEY,
)


class Cron(Protocol):
    """What the decision reads of a cron (clients.agent_server.Cron has it)."""

    cron_id: str
    schedule: str
    metadata: dict[str, Any] | None
    created_at: datetime | None


def find_orphans(
    crons: Iterable[Cron],
    live_uids: Collection[str],
    cluster: str,
    *,
    namespaces: Collection[str] | None = None,
    now: datetime | None = None,
    min_age: float = 0.0,
) -> list[Cron]:
    """The crons of `cluster` whose lgcron.io/uid is not a live LangGraphCron's uid.

    File-mode crons (no uid), other clusters' crons and released crons are never orphans.
    `namespaces` limits the answer to crons of those namespaces (None: all). Crons younger than
    `min_age` seconds (or of unknown age) are left out: their resource may not be visible yet.
    """
    now = now or datetime.now(UTC)
    orphans = []
    for cron in crons:
        meta = cron.metadata or {}
        uid = meta.get(UID_KEY)
        if not uid or meta.get(CLUSTER_KEY) != cluster or uid in live_uids or meta.get(RELEASED_KEY):
            continue
        if namespaces is not None and meta.get(NAMESPACE_KEY) not in namespaces:
            continue
        if min_age > 0 and (cron.created_at is None or (now - _aware(cron.created_at)).total_seconds() < min_age):
            continue
        orphans.append(cron)
    return sorted(orphans, key=lambda c: (tag_of(c, NAMESPACE_KEY), tag_of(c, NAME_KEY), c.created_at or now, c.cron_id))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def tag_of(cron: Cron, key: str) -> str:
    return str((cron.metadata or {}).get(key) or "")


def orphan_table(orphans: list[Cron]) -> str:
    rows = [("CRON ID", "NAMESPACE", "NAME", "UID", "SCHEDULE", "CREATED")]
    for cron in orphans:
        created = format_time(_aware(cron.created_at)) if cron.created_at else "-"
        tags = (tag_of(cron, key) for key in (NAMESPACE_KEY, NAME_KEY, UID_KEY))
        rows.append((cron.cron_id, *tags, cron.schedule, created))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


# ---------------------------------------------------------------- lgcron audit

