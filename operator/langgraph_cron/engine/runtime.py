"""The operator's engine at run time: built once at start-up (controller/startup.py) and kept in kopf's
memo. It reconciles one object outside a kopf handler (a requeue, a pass, a CronJob's event), requeues
crons in the background, and holds what the passes share. Status and Events go through the writer the
controller hands it (controller/writer.py): the one place that writes them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, Protocol

from langgraph_cron.clients import metrics
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.status import EventRecord
from langgraph_cron.engine.backends import StatusWriter
from langgraph_cron.engine.observer import RunObserver
from langgraph_cron.engine.servers import ServerService
from langgraph_cron.engine.service import CronService

logger = logging.getLogger(__name__)

# kopf puts this finalizer on every LangGraphCron before its first reconcile (controller/startup.py).
FINALIZER = "lgcron.io/cleanup"
# Crons reconciled at once when a server object's change requeues them.
REQUEUE_CONCURRENCY = 16


class Writer(Protocol):
    """Writes status and posts Events (controller/writer.py)."""

    def status_writer(self, obj: CronObject) -> StatusWriter: ...
    async def store(self, obj: CronObject, result: Result, body: Mapping[str, Any]) -> None: ...
    async def patch_status(self, obj: CronObject, changes: dict[str, Any], *, best_effort: bool = False) -> None: ...
    def post(self, body: Mapping[str, Any], events: Iterable[EventRecord]) -> None: ...
    def post_raw(self, body: Mapping[str, Any], type_: Literal["Normal", "Warning"], reason: str, message: str) -> None: ...


class Registry(Protocol):
    """The latest body of every LangGraphCron, by uid (controller/registry.py: kopf's index)."""

    def get(self, uid: str) -> dict[str, Any] | None: ...
    def items(self) -> list[tuple[str, dict[str, Any]]]: ...
    def values(self) -> list[dict[str, Any]]: ...
    def keys(self) -> Any: ...
    def __contains__(self, uid: object) -> bool: ...


def has_finalizer(body: Mapping[str, Any]) -> bool:
    return FINALIZER in (body["metadata"].get("finalizers") or [])


def reconciled_yet(body: Mapping[str, Any]) -> bool:
    """Whether a reconcile ever wrote this object's conditions (until then kopf's create handler has it)."""
    return bool((body.get("status") or {}).get("conditions"))


class Runtime:
    def __init__(self, service: CronService, kube: Any, writer: Writer, registry: Registry, *,
                 clusterwide: bool) -> None:
        self.service = service
        self.kube = kube
        self.writer = writer
        self.registry = registry
        # The GC may only judge crons of namespaces this operator watches.
        self.clusterwide = clusterwide
        self.servers = ServerService(service, service.connector.servers, kube)
        # The agentServer backend's run history, looked at in each resync pass (see observer.py).
        self.observer = RunObserver(service, grace=service.settings.missed_run_grace)
        self.held_servers: dict[Any, int] = {}  # server key -> crons holding its deletion, as last said
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._requeues: set[asyncio.Task[Any]] = set()
        # One batched pass at a time (the periodic one, and the first one after a start or a takeover).
        self.pass_lock = asyncio.Lock()
        # Resources resumed in sync, left to the first pass (engine/passes.py: verify_in_bulk).
        self.awaiting_first_pass: set[str] = set()
        self.last_resumed: float = 0.0
        self.last_pass_at: float = 0.0  # loop time of the last batched pass (first or periodic)

    def cron_object(self, body: Any) -> CronObject:
        return CronObject.from_body(body, cluster=self.service.settings.cluster_id)

    def lock(self, uid: str) -> asyncio.Lock:
        return self.service.memory.lock(uid)

    def first_sight(self, body: Mapping[str, Any]) -> None:
        """The watch delivered an object for the first time: before any finalizer, nobody has handled it."""
        meta = body["metadata"]
        if meta["uid"] not in self.registry and not has_finalizer(body) and not meta.get("deletionTimestamp"):
            self.service.mark_pristine(meta["uid"])

    # ------------------------------------------------------------ one object

    async def reconcile(self, obj: CronObject, attempt: int) -> Result:
        """A reconcile under the object's lock (a kopf handler writes the status it returns)."""
        async with self.lock(obj.identity.uid):
            return await self.service.reconcile(obj, attempt=attempt, write_status=self.writer.status_writer(obj))

    async def reconcile_and_store(self, body: Any, attempt: int = 0) -> Result:
        """Reconcile outside a kopf change handler: status (only if changed) and Events written here."""
        obj = self.cron_object(body)
        async with self.lock(obj.identity.uid):
            result = await self.service.reconcile(obj, attempt=attempt, write_status=self.writer.status_writer(obj))
            await self.writer.store(obj, result, body)
        return result

    async def finalize(self, obj: CronObject, attempt: int) -> Result:
        async with self.lock(obj.identity.uid):
            result = await self.service.finalize(obj, attempt=attempt)
        if result.done:
            self.forget(obj)
        return result

    def forget(self, obj: CronObject) -> None:
        self.service.forget(obj.identity.uid)
        metrics.forget_cron(obj.identity.namespace, obj.identity.name)

    async def owned_workload_changed(self, body: Mapping[str, Any], owner: Mapping[str, Any] | None,
                                     owner_uid: str) -> None:
        """A CronJob or Job of the cronJob backend changed: restore a hand edit, mirror run results."""
        meta = owner["metadata"] if owner else {}
        if owner is None or meta["uid"] != owner_uid or meta.get("deletionTimestamp"):
            return  # gone or going: recreating its CronJob now would outlive it
        if not has_finalizer(owner):
            return  # kopf has not taken it over yet; its create handler will reconcile it
        await self.reconcile_and_store(owner)

    # ------------------------------------------------------------ requeue

    def requeue(self, bodies: Iterable[Mapping[str, Any]]) -> None:
        """Reconcile these crons soon, in the background, a few at a time (their own locks apply)."""
        uids = list(dict.fromkeys(body["metadata"]["uid"] for body in bodies))
        if not uids:
            return
        task = asyncio.create_task(self._reconcile_uids(uids), name="lgcron requeue")
        self._requeues.add(task)
        task.add_done_callback(self._requeues.discard)

    async def _reconcile_uids(self, uids: list[str]) -> None:
        gate = asyncio.Semaphore(REQUEUE_CONCURRENCY)

        async def one(uid: str) -> None:
            async with gate:
                # The newest body, read when its turn comes: the watch may have moved on since.
                body = self.registry.get(uid)
                if body is None or body["metadata"].get("deletionTimestamp"):
                    return
                if not has_finalizer(body):
                    # kopf has not taken it over yet: its create handler reconciles it, with the
                    # server check this requeue follows already stored.
                    return
                try:
                    await self.reconcile_and_store(body)
                except Exception:  # one object's surprise must not starve the rest
                    logger.exception("requeue of %s failed", uid)

        await asyncio.gather(*(one(uid) for uid in uids))

    # ------------------------------------------------------------ start and stop

    def start_task(self, name: str, run: Callable[[Runtime], Awaitable[Any]]) -> None:
        """Start `run(self)` in the background once, however often this is called."""
        if name not in self.tasks:
            self.tasks[name] = asyncio.create_task(run(self), name=f"lgcron {name}")

    async def close(self) -> None:
        tasks = list(self.tasks.values()) + list(self._requeues)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.service.aclose()
