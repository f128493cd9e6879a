"""What this process remembers of each LangGraphCron, in one place, with one forget.

Everything here is an optimisation or a guard that a restart may lose: the truth is always the
object's status and the servers' crons. One `ResourceMemory` per uid, made on first need; a
deleted resource is forgotten with `Memory.forget(uid)`, and a pass drops what no live object
has (`keep_only`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langgraph_cron.core import history
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.models import LangGraphCronSpec, LangGraphCronStatus

# The observer has not yet decided when this cron's next run is due (its status says).
UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """An object found in sync by a resync pass: valid while its resourceVersion and its cron stay
    the same, until `valid_until` (a run time, endTime, or an hour)."""

    resource_version: str | None
    connection: Connection
    cron_id: str
    cron_digest: str
    valid_until: datetime


@dataclass(slots=True)
class ResourceMemory:
    # Seen before any finalizer was on it, and no create sent since: no operator can have made its
    # cron, so its first create may skip the search (see Memory.mark_pristine).
    pristine: bool = False
    # (server URL, cron id): its only cron, as this process last left it. Lets a deletion skip the
    # uid search; only kept where no other replica can act meanwhile.
    sole_cron: tuple[str, str] | None = None
    fingerprint: Fingerprint | None = None
    # The run-history part of the status this process last computed: newer than a body the watch
    # has not delivered yet (folding a stale cursor would count runs twice).
    history: dict[str, Any] | None = None
    # The run observer's look-ahead: the run time it waits for, and the spec it parsed for it.
    due: datetime | None = UNSET
    observed_spec: tuple[str | None, LangGraphCronSpec, Connection] | None = None
    generation: int | None = None
    # The resync pass, a requeue and kopf's own handlers must never reconcile one object at once.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Memory:
    def __init__(self) -> None:
        self._resources: dict[str, ResourceMemory] = {}
        # Sole crons are trusted only when no other replica can act between two looks (--peering).
        self.remember_sole_crons = True

    def of(self, uid: str) -> ResourceMemory:
        memory = self._resources.get(uid)
        if memory is None:
            memory = self._resources[uid] = ResourceMemory()
        return memory

    def get(self, uid: str | None) -> ResourceMemory | None:
        return self._resources.get(uid or "")

    def lock(self, uid: str) -> asyncio.Lock:
        return self.of(uid).lock

    def forget(self, uid: str) -> None:
        """The object is gone: drop everything this process remembers of it."""
        self._resources.pop(uid, None)

    def keep_only(self, live_uids: Collection[str]) -> None:
        """Drop the memory of objects deleted before they were ever handled (or while we looked away)."""
        live = live_uids if isinstance(live_uids, (set, frozenset, dict)) else set(live_uids)
        for uid in [uid for uid in self._resources if uid not in live]:
            memory = self._resources[uid]
            if not memory.lock.locked():
                del self._resources[uid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resources)

    def __len__(self) -> int:
        return len(self._resources)

    # ------------------------------------------------------------ first sight and sole crons

    def mark_pristine(self, uid: str) -> None:
        """This process saw the object before any finalizer was on it.

        Creates run only after the finalizer is on (kopf adds it first; the resync pass skips
        objects without it), so no operator, this one or an earlier one, has made a cron for it.
        The mark is dropped before a create is sent (`take_pristine`), so a retry after a lost
        response searches again.
        """
        self.of(uid).pristine = True

    def is_pristine(self, uid: str | None) -> bool:
        memory = self.get(uid)
        return memory is not None and memory.pristine

    def take_pristine(self, uid: str | None) -> bool:
        memory = self.get(uid)
        if memory is None or not memory.pristine:
            return False
        memory.pristine = False
        return True

    def remember_sole_cron(self, uid: str | None, url: str, cron_id: str) -> None:
        if self.remember_sole_crons and uid:
            self.of(uid).sole_cron = (url, cron_id)

    def drop_sole_cron(self, uid: str | None) -> None:
        if (memory := self.get(uid)) is not None:
            memory.sole_cron = None

    def sole_cron(self, uid: str | None) -> tuple[str, str] | None:
        memory = self.get(uid)
        return memory.sole_cron if memory is not None else None

    # ------------------------------------------------------------ fingerprints

    def fingerprint(self, uid: str) -> Fingerprint | None:
        memory = self._resources.get(uid)
        return memory.fingerprint if memory is not None else None

    def set_fingerprint(self, uid: str, fingerprint: Fingerprint) -> None:
        self.of(uid).fingerprint = fingerprint

    def drop_fingerprint(self, uid: str) -> None:
        if (memory := self._resources.get(uid)) is not None:
            memory.fingerprint = None

    def drop_fingerprints_via(self, server_key: Any) -> None:
        """A server object changed: the next pass looks at its crons in full."""
        for memory in self._resources.values():
            if memory.fingerprint is not None and memory.fingerprint.connection.via == server_key:
                memory.fingerprint = None

    # ------------------------------------------------------------ run history

    def history_base(self, uid: str | None, status: LangGraphCronStatus) -> LangGraphCronStatus:
        """The status with the run history this process last computed laid over it."""
        memory = self.get(uid)
        if memory is None or memory.history is None:
            return status
        return history.with_history_part(status, memory.history)

    def remember_history(self, uid: str | None, status: LangGraphCronStatus) -> None:
        if not uid:
            return
        part = history.kept_history_part(status)
        if part is None:
            # Nothing counted yet: a stale body cannot count anything twice, so nothing to keep.
            if (memory := self.get(uid)) is not None:
                memory.history = None
            return
        self.of(uid).history = part
