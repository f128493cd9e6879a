"""Kubernetes Events of the operator: named as client-go's recorder names them, posted a few at a time.

kopf's own `kopf.event` names each Event with `generateName` (5 random characters) and posts one
at a time. Once a namespace holds many Events the apiserver cannot find a free name (HTTP 409) and
kopf drops the Event: 18 lost in a benchmark run with 10,000 resources. Here an Event's name is
`<object name>.<hex nanoseconds>`, unique by construction, and up to `concurrency` posts are in
flight, so a burst of Events does not queue behind one request at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from langgraph_cron.core.models import format_time

logger = logging.getLogger(__name__)

COMPONENT = "lgcron-operator"
MAX_MESSAGE = 1024  # what kopf and kubectl keep of a message; longer ones are cut
MAX_NAME = 253


class EventApi(Protocol):
    async def create_event(self, namespace: str, event: dict[str, Any]) -> None: ...


class _UniqueNanoseconds:
    """time.time_ns(), but strictly increasing within this process (two Events in one tick)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        self._last = max(self._last + 1, time.time_ns())
        return self._last


unique_ns = _UniqueNanoseconds()


def build_event(ref: Mapping[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str,
                now: datetime, stamp: int) -> dict[str, Any]:
    """A core/v1 Event about the object `ref` (a body, or apiVersion/kind/metadata of one gone)."""
    meta = ref["metadata"]
    suffix = f".{stamp:x}"
    moment = format_time(now)
    involved = {"apiVersion": ref.get("apiVersion"), "kind": ref.get("kind"), "name": meta["name"],
                "namespace": meta.get("namespace"), "uid": meta.get("uid")}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # Events about cluster-scoped objects live in `default`, where `kubectl describe` looks for them.
        "metadata": {"name": meta["name"][: MAX_NAME - len(suffix)] + suffix, "namespace": meta.get("namespace") or "default"},
        "involvedObject": {k: v for k, v in involved.items() if v is not None},
        "type": type_,
        "reason": reason,
        "message": message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
    }


class EventPoster:
    """Queues Events and posts them in the background; `post` never blocks a handler."""

    def __init__(self, api: EventApi, *, concurrency: int = 4) -> None:
        self._api = api
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._concurrency = concurrency
        self._workers: list[asyncio.Task[None]] = []

    def post(self, ref: Mapping[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(), name=f"lgcron events {i}")
                             for i in range(self._concurrency)]
        self._queue.put_nowait(build_event(ref, type_, reason, message, datetime.now(UTC), unique_ns()))

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._api.create_event(event["metadata"]["namespace"], event)
            except Exception as exc:  # an Event is a report, never a reason to stop reconciling
                logger.warning("could not post Event %s about %s: %s", event["reason"],
                               event["involvedObject"].get("name"), exc)
            finally:
                self._queue.task_done()

    async def close(self, timeout: float = 5.0) -> None:
        """Post what is queued (for up to `timeout` seconds), then stop."""
        if self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                logger.warning("stopping with %d Events not posted", self._queue.qsize())
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
