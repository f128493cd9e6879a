"""Which Agent Server (langgraph-api) releases the client supports, what older ones lack, and how the
client does without it.

Measured on the in-memory server of each release (tests/agent_server, run against pinned venvs by
scripts/agent-servers; README "Compatibility"). The release comes from `GET /info` (`version`); a
server that does not say (404, or /info behind auth) is taken to have everything, and a missing
`GET /runs/crons/{id}` is also noticed by its 405.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph_cron.clients.agent_server_types import Cron, CronNotFound, Rejected

if TYPE_CHECKING:
    from langgraph_cron.clients.agent_server import AgentServerClient

OLDEST_SUPPORTED = "0.7.103"  # the oldest release tested in CI (scripts/agent-servers)


@dataclass(frozen=True)
class Feature:
    since: str  # the first langgraph-api release that has it
    what: str  # what it is, as a skip reason or a log line names it
    without: str  # what the client (or operator) does on a server without it


FEATURES: dict[str, Feature] = {
    "webhook_check": Feature(
        "0.8.0", "webhook host check (a loopback or unresolvable webhook URL refused with 422)",
        "a cron with such a webhook is created; its runs' webhook calls fail"),
    "metadata_filter": Feature(
        "0.9.0", "metadata filter of POST /runs/crons/search and /runs/crons/count",
        "searches return every cron on the server and the client filters them; a count with a filter "
        "pages through every cron"),
    "get_cron": Feature(
        "0.10.0", "GET /runs/crons/{id}",
        "the client pages through every cron on the server (POST /runs/crons/search) to find it"),
    "clear_end_time": Feature(
        "0.12.0", "PATCH /runs/crons/{id} with end_time: null",
        "removing a forwarded endTime (LGCRON_FORWARD_END_TIME) replaces the cron instead of patching it"),
}


def release_tuple(release: str | None) -> tuple[int, int, int] | None:
    """`0.16.7` -> (0, 16, 7) (`0.16.7rc1` too); None for what is not a release number."""
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", (release or "").strip())
    if found is None:
        return None
    return int(found[1]), int(found[2]), int(found[3] or 0)


@dataclass(frozen=True)
class ServerFeatures:
    """What one server has, by its release (None: unknown, taken to have everything) and by evidence."""

    version: str | None = None
    lacks: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, version: str | None, *, evidence: frozenset[str] = frozenset()) -> ServerFeatures:
        release = release_tuple(version)
        lacks = {name for name, f in FEATURES.items() if release is not None and release < release_tuple(f.since)}
        return cls(version, frozenset(lacks | evidence))

    def has(self, name: str) -> bool:
        return name not in self.lacks

    @property
    def supported(self) -> bool:
        """False for a release older than the oldest tested one (it may lack more than FEATURES says)."""
        release = release_tuple(self.version)
        return release is None or release >= release_tuple(OLDEST_SUPPORTED)

    def describe(self) -> str:
        """One line for the log: what this server lacks and what is done instead."""
        parts = [f"no {FEATURES[name].what}: {FEATURES[name].without}" for name in FEATURES if name in self.lacks]
        if not self.supported:
            parts.insert(0, f"older than {OLDEST_SUPPORTED}, the oldest release tested")
        return "; ".join(parts)


def contains(value: Any, wanted: Any) -> bool:
    """JSON containment as Postgres's `@>` reads it (the filter `metadata` means on every server):
    an object contains each wanted key with a contained value; an array contains each wanted
    element somewhere; anything else is equal, with true never equal to 1. The in-memory server is
    stricter with arrays (equal, not contained), so filtering what it already filtered keeps all."""
    if isinstance(wanted, dict):
        return isinstance(value, dict) and all(k in value and contains(value[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(value, list) and all(any(contains(item, w) for item in value) for w in wanted)
    if isinstance(wanted, bool) or isinstance(value, bool):
        return type(wanted) is type(value) and wanted == value
    return not isinstance(value, (dict, list)) and wanted == value


def matches(item: Any, metadata: dict | None, assistant_id: str | None, thread_id: str | None) -> bool:
    """Whether a cron (the server's JSON) passes the filters a search or count was given."""
    if not isinstance(item, dict):
        return False
    if metadata and not contains(item.get("metadata") or {}, metadata):
        return False
    if assistant_id and str(item.get("assistant_id")) != assistant_id:
        return False
    return not (thread_id and str(item.get("thread_id")) != thread_id)


async def find_cron(client: AgentServerClient, cron_id: str, where: str) -> Cron:
    """A cron found by paging through every cron on the server (one without GET /runs/crons/{id}),
    failing as that GET does: Rejected (422) for an id that is not a UUID, CronNotFound (404)."""
    where = f"{where} (searched: the server has no such GET)"
    try:
        uuid.UUID(str(cron_id))
    except ValueError:
        raise Rejected(f"{where}: not a UUID", status_code=422, detail="Invalid cron ID: must be a UUID") from None
    async for page in client.search_pages():
        for item in page:
            if item["cron_id"] == cron_id:
                return client.parse(item)
    raise CronNotFound(f"{where}: not found", status_code=404, detail="Not Found")
