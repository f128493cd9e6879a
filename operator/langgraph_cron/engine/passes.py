"""The operator's periodic passes: drift repair of every resource at once (resync), the run history of
crons whose run time came (the run observer), and garbage collection of orphaned crons. One paged
search per server per pass, not a request per resource (engine/resync.py, engine/observer.py)."""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Mapping
from typing import Any

from langgraph_cron.core import runcontrol
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.status import status_patch
from langgraph_cron.engine.backends import DEFAULT_BACKEND
from langgraph_cron.engine import server_watch
from langgraph_cron.engine.gc import gc_pass
from langgraph_cron.engine.runtime import Runtime, has_finalizer, reconciled_yet

logger = logging.getLogger(__name__)


def in_resync_pass(body: Mapping[str, Any]) -> bool:
    """Only objects kopf has put its finalizer on (a cron made for one without it could outlive it),
    not being deleted, and reconciled at least once: until then kopf's create handler has the
    object, and a pass would only parse its spec to learn that (thousands of objects, every pass,
    while a slow Agent Server keeps them queued)."""
    return has_finalizer(body) and not body["metadata"].get("deletionTimestamp") and reconciled_yet(body)


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system: a pass allocates the server's whole search
    result and N status models at once, and glibc would otherwise keep the peak as RSS for good."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass


async def resync_forever(runtime: Runtime) -> None:
    interval = runtime.service.settings.resync_interval
    loop = asyncio.get_running_loop()
    runtime.last_pass_at = loop.time()
    while True:
        # A pass every interval, counted from the last one: a first pass after a start resets the count.
        await asyncio.sleep(max(1.0, runtime.last_pass_at + interval - loop.time()))
        if "first pass" in runtime.tasks or loop.time() - runtime.last_pass_at < interval - 1.0:
            continue  # resources are being resumed (the first pass checks them all), or one just ran
        try:
            async with runtime.pass_lock:
                await resync_pass(runtime)
        except Exception:  # a bad pass must not end resyncing for good
            logger.exception("resync pass failed")
        runtime.last_pass_at = loop.time()
        release_free_memory()


# ---------------------------------------------------------------- a start or a takeover: verify in bulk
# kopf resumes every resource it finds when an operator starts, or when a standby takes over. A resource
# whose status says it is in sync waits for the first pass instead of searching the server on its own:
# 1,000 of them cost ceil(1000/page) searches, not 1,000. The pass starts once kopf has stopped handing
# over resumed resources for FIRST_PASS_QUIET (the initial listing is done), or after FIRST_PASS_LATEST.

# kopf hands resumed resources over LGCRON_MAX_WORKERS at a time, and a worker keeps its slot for half a
# second after its object's last event (startup.py): a quiet second and a half means all were handed over.
FIRST_PASS_QUIET = 1.5
FIRST_PASS_LATEST = 120.0


def verify_in_bulk(runtime: Runtime, obj: CronObject) -> bool:
    """True when `obj` is left to the first pass (its status says it is in sync); False: reconcile it now."""
    if not runcontrol.settled_by_its_status(obj.status, obj.generation, obj.annotations):
        return False
    uid = obj.identity.uid or ""
    runtime.service.managed.update(uid, str(obj.raw_spec.get("backend") or DEFAULT_BACKEND), True)
    runtime.awaiting_first_pass.add(uid)
    runtime.last_resumed = asyncio.get_running_loop().time()
    runtime.start_task("first pass", first_pass)
    return True


async def first_pass(runtime: Runtime) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - runtime.last_resumed < FIRST_PASS_QUIET and loop.time() - started < FIRST_PASS_LATEST:
        await asyncio.sleep(FIRST_PASS_QUIET / 5)
    waiting = len(runtime.awaiting_first_pass)
    began = loop.time()
    try:
        async with runtime.pass_lock:
            dirty = await resync_pass(runtime)
    except Exception:
        logger.exception("the first pass failed: the resumed resources are reconciled one by one")
        runtime.requeue(body for uid, body in runtime.registry.items() if uid in runtime.awaiting_first_pass)
        dirty = None
    runtime.awaiting_first_pass.clear()
    runtime.last_pass_at = loop.time()
    if dirty is not None:
        logger.info("first pass after start-up: %d resumed resources verified in bulk in %.1f s; %d reconciled",
                    waiting, loop.time() - began, dirty)
    release_free_memory()
    del runtime.tasks["first pass"]  # a later takeover (paused, then resumed) starts another


async def resync_pass(runtime: Runtime) -> int:
    """Check every server object, then every resource: a cron deleted or edited on the server is put
    back, nextRunDate refreshed, the run history read. Returns how many needed a full reconcile."""
    await server_watch.check_all(runtime)
    snapshot = {uid: body for uid, body in runtime.registry.items() if in_resync_pass(body)}
    runtime.service.keep_only(runtime.registry.keys())
    in_sync, dirty = await runtime.service.resync(snapshot.values())
    for obj, result in in_sync:
        changes = status_patch(obj.status, result.status)
        if not changes:
            continue
        async with runtime.lock(obj.identity.uid):
            # Skip when the object changed since the snapshot: its own handler has the newer truth.
            if _unchanged(runtime, snapshot, obj.identity.uid):
                await runtime.writer.patch_status(obj, changes)
    for obj in dirty:
        current = runtime.registry.get(obj.identity.uid)
        if current is None or current["metadata"].get("deletionTimestamp"):
            continue  # gone or going: kopf's deletion handler has it
        if not _unchanged(runtime, snapshot, obj.identity.uid):
            continue  # changed since the snapshot: its handler has just reconciled (or will)
        try:
            await runtime.reconcile_and_store(current)
        except Exception:  # one object's surprise must not starve the rest of the pass
            logger.exception("resync of %s/%s failed", obj.identity.namespace, obj.identity.name)
    await observe_runs(runtime, snapshot)
    return len(dirty)


def _unchanged(runtime: Runtime, snapshot: Mapping[str, Any], uid: str) -> bool:
    current = runtime.registry.get(uid)
    return current is not None and (
        current["metadata"].get("resourceVersion") == snapshot[uid]["metadata"].get("resourceVersion"))


async def observe_runs(runtime: Runtime, snapshot: Mapping[str, Any]) -> None:
    """The run history of crons whose run time came (observer.py): status, Events and metrics."""
    for seen in await runtime.observer.observe(snapshot.values()):
        obj, update = seen.obj, seen.update
        changes = status_patch(obj.status, update.status)
        if changes:
            async with runtime.lock(obj.identity.uid or ""):
                # The memory keeps the counts; the next write carries them.
                await runtime.writer.patch_status(obj, changes, best_effort=True)
        body = runtime.registry.get(obj.identity.uid or "")
        if body is not None:
            runtime.writer.post(body, update.events)
            if seen.requeue:  # paused, or out of budget: its backend is disabled by a reconcile
                runtime.requeue([body])


async def collect_forever(runtime: Runtime) -> None:
    """The operator's GC loop (LGCRON_GC_INTERVAL)."""

    def post_event(ref: dict[str, Any], reason: str, message: str) -> None:
        # The resource is gone, so the Event names it by its old name and uid in its namespace:
        # `kubectl get events -n NS --field-selector involvedObject.name=NAME` finds it.
        runtime.writer.post_raw(ref, "Normal", reason, message)

    while True:
        await asyncio.sleep(runtime.service.settings.gc_interval)
        try:
            await gc_pass(runtime.service, runtime.kube, runtime.registry, clusterwide=runtime.clusterwide,
                          post_event=post_event)
        except Exception:  # a bad pass must not end garbage collection for good
            logger.exception("garbage collection pass failed")


def start_passes(runtime: Runtime) -> None:
    """Started from the registry's first fill: the passes read it from then on."""
    runtime.start_task("resync", resync_forever)
    if runtime.service.settings.gc_interval:
        runtime.start_task("gc", collect_forever)
