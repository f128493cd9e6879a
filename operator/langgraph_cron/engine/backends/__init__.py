"""Backends: where a LangGraphCron's schedule lives. Each is one module behind `Backend`, registered in
`registered()`; nothing else branches on a backend's name.

* agent_server.py: a cron record on a LangGraph Agent Server (POST /runs/crons ...).
* cronjob.py: a native batch/v1 CronJob whose Pods run `lgcron invoke`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from langgraph_cron.core import runcontrol
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.models import (
    LangGraphCronSpec,
    LangGraphCronStatus,
    TriggerState,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.status import EventRecord

# Persist a status merge patch at once (not at the end of the handler): status.cronId the moment a
# cron exists, and the write-ahead record before a create request is sent.
StatusWriter = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Work:
    """One reconcile of one object, as a backend sees it."""

    obj: CronObject
    spec: LangGraphCronSpec  # as written (parsed, H expanded)
    target: Connection  # where the spec says its server is (the cronJob backend's Pods call it too)
    now: datetime
    events: list[EventRecord]
    write_status: StatusWriter | None = None
    control: runcontrol.Control | None = None  # set once the run controls are applied
    # A create request was sent in this reconcile (the write-ahead record says so already).
    create_sent: bool = False

    @property
    def backend_spec(self) -> LangGraphCronSpec:
        """What the backend gets (core/runcontrol.backend_spec), once the run controls are applied."""
        return self.spec if self.control is None else runcontrol.backend_spec(self.spec, self.control)


@dataclass
class Applied:
    """What `ensure` left in place: the status to write, and the backend's handle for a trigger."""

    status: LangGraphCronStatus
    handle: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    name: ClassVar[str]
    # Whether resync passes check this backend's crons with one batched search per server (else
    # `resync_locally` decides alone: its drift arrives as watch events).
    batched_resync: ClassVar[bool] = False
    # Whether the run observer's passes read this backend's run history (else `observe` does).
    history_in_passes: ClassVar[bool] = False

    async def observe(self, work: Work, previous: LangGraphCronStatus) -> LangGraphCronStatus:
        """The status with this backend's newest runs folded in, before the run controls decide."""
        return previous

    @abstractmethod
    async def ensure(self, work: Work) -> Applied:
        """Make the backend hold exactly what `work.backend_spec` asks for; the status to write."""

    @abstractmethod
    async def trigger(self, work: Work, applied: Applied, value: str) -> tuple[TriggerState, str]:
        """Start one run now for a new lgcron.io/trigger value: its state, and the Event's message."""

    @abstractmethod
    async def retire(self, work: Work) -> None:
        """Another backend holds the object now: remove what this one left for it."""

    @abstractmethod
    async def delete(self, obj: CronObject, events: list[EventRecord], *, orphan: bool) -> Result | None:
        """The object is being deleted: remove (Orphan: release) what this backend holds for it.
        None when done here; a Result to stop the deletion and report (not done)."""

    def resync_locally(self, obj: CronObject, spec: LangGraphCronSpec, now: datetime) -> Result | None:
        """A resync pass's check of an object that is Ready and current: the status to refresh, or None
        for a full reconcile (only for backends without `batched_resync`)."""
        return None


class Backends:
    """The registered backends, by name (spec.backend, status.backend)."""

    def __init__(self, backends: list[Backend]) -> None:
        self._by_name = {backend.name: backend for backend in backends}

    def __getitem__(self, name: str | None) -> Backend:
        return self._by_name[name or DEFAULT_BACKEND]

    def get(self, name: str | None) -> Backend | None:
        return self._by_name.get(name or DEFAULT_BACKEND)

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._by_name.values())

    def others(self, backend: Backend) -> list[Backend]:
        return [other for other in self._by_name.values() if other is not backend]


DEFAULT_BACKEND: str = LangGraphCronSpec.model_fields["backend"].default


def registered(parts: Any) -> Backends:
    """Every backend, built on the engine's parts. A new backend: one module, one line here."""
    from langgraph_cron.engine.backends.agent_server import AgentServerBackend
    from langgraph_cron.engine.backends.cronjob import CronJobBackend

    # Deletion visits them in this order.
    return Backends([CronJobBackend(parts), AgentServerBackend(parts)])
