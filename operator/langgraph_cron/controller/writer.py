"""The one place that writes a LangGraphCron's status and posts Events.

Inside a kopf change handler the status goes into kopf's own patch (one write, together with kopf's
bookkeeping, see diffbase.py); everywhere else (requeues, passes, the early cronId and the write-ahead
record) it is a merge patch of the status subresource. Only what changed is written."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from langgraph_cron.clients.events import EventPoster
from langgraph_cron.clients.kube import KubeClient, KubernetesApiError
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.status import EventRecord, status_patch
from langgraph_cron.engine.backends import StatusWriter

logger = logging.getLogger(__name__)


class Writer:
    def __init__(self, kube: KubeClient, events: EventPoster) -> None:
        self.kube = kube
        self.events = events

    def status_writer(self, obj: CronObject) -> StatusWriter:
        """Writes a status patch at once, raising when it fails (a write-ahead record must be written
        before the request it announces is sent)."""

        async def write(changes: dict[str, Any]) -> None:
            await self.kube.patch_status(obj.identity.namespace, obj.identity.name, changes)

        return write

    def into_handler_patch(self, patch: Any, obj: CronObject, result: Result, body: Mapping[str, Any]) -> None:
        """A kopf change handler's result: the status changes go into kopf's patch; Events are posted."""
        patch.status.update(status_patch(obj.status, result.status) or {})
        self.post(body, result.events)

    async def store(self, obj: CronObject, result: Result, body: Mapping[str, Any]) -> None:
        """Outside a kopf handler: write the status (only if changed) and post the Events."""
        changes = status_patch(obj.status, result.status)
        if changes:
            await self.kube.patch_status(obj.identity.namespace, obj.identity.name, changes)
        self.post(body, result.events)

    async def patch_status(self, obj: CronObject, changes: dict[str, Any], *, best_effort: bool = False) -> None:
        try:
            await self.kube.patch_status(obj.identity.namespace, obj.identity.name, changes)
        except KubernetesApiError as exc:
            if not best_effort:
                raise
            logger.warning("status of %s/%s not written: %s", obj.identity.namespace, obj.identity.name, exc)

    def post(self, body: Mapping[str, Any], events: Iterable[EventRecord]) -> None:
        for event in events:
            self.events.post(body, event.type, event.reason, event.message)

    def post_raw(self, body: Mapping[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.post(body, type_, reason, message)

    async def close(self) -> None:
        await self.events.close()
