"""kopf handlers: parse the object, call the service, write status and Events. No decisions here.

Importing this module registers the handlers, so `kopf run -m langgraph_cron` works.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import kopf
import prometheus_client

from langgraph_cron.clients import metrics
from langgraph_cron.clients.agent_server import make_http_client
from langgraph_cron.clients.events import EventPoster
from langgraph_cron.clients.kube import KubeClient
from langgraph_cron.controller import kopf_patches
from langgraph_cron.controller.diffbase import (
    StatusDigestDiffBaseStorage,
    progress_storage,
)
from langgraph_cron.controller.login import connection_info
from langgraph_cron.core.connections import (
    ServerDirectory,
    ServerKey,
    uses_namespace_labels,
)
from langgraph_cron.core.cronjob import NAME_LABEL, UID_LABEL
from langgraph_cron.core.models import (
    CLUSTER_SERVER_KIND,
    CLUSTER_SERVER_PLURAL,
    GROUP,
    PLURAL,
    SERVER_KIND,
    SERVER_PLURAL,
    VERSION,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.status import status_patch
from langgraph_cron.engine.gc import collect_forever
from langgraph_cron.engine.observer import RunObserver
from langgraph_cron.engine.servers import ServerService, referred_servers, referrers
from langgraph_cron.engine.service import SLOW_RETRY_SECONDS, CronService

kopf_patches.install()  # kopf's JSON patches without deep copies of whole bodies (kopf_patches.py)

FINALIZER = "lgcron.io/cleanup"
RESOURCE = (GROUP, VERSION, PLURAL)
SERVER_RESOURCE = (GROUP, VERSION, SERVER_PLURAL)
CLUSTER_SERVER_RESOURCE = (GROUP, VERSION, CLUSTER_SERVER_PLURAL)
# Crons reconciled at once when a server object's change requeues them.
REQUEUE_CONCURRENCY = 16


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # kopf's bookkeeping lives in status.kopf, written together with the status (see diffbase.py).
    settings.persistence.progress_storage = progress_storage()
    settings.persistence.diffbase_storage = StatusDigestDiffBaseStorage()
    # The GC may only judge crons of namespaces this operator watches.
    memo.clusterwide = settings.peering.clusterwide
    config = Settings.from_env()
    memo.kube = KubeClient(lambda: connection_info(logger))
    memo.events = EventPoster(memo.kube)
    if "LGCRON_CLUSTER_ID" not in os.environ:
        cluster = await memo.kube.namespace_uid("kube-system")
        if cluster is None:
            logger.warning("cannot read namespace kube-system; tagging crons with cluster %r", config.cluster_id)
        else:
            config = config.model_copy(update={"cluster_id": cluster})
    if config.insecure_skip_verify:
        logger.warning("LGCRON_INSECURE_SKIP_VERIFY is set: TLS certificates of Agent Servers are NOT verified")
    memo.http = make_http_client(verify=config.tls_verify, timeout=config.request_timeout)
    memo.http.event_hooks = {"response": [metrics.record_response]}
    if config.metrics_port:
        prometheus_client.start_http_server(config.metrics_port)
    memo.service = CronService(config, memo.http, memo.kube)
    # Server objects and namespace labels, as kopf's indexes hold them (see the index handlers).
    memo.servers = memo.service.servers = ServerDirectory()
    memo.server_service = ServerService(memo.service, memo.servers, memo.kube)
    memo.held_servers = {}  # server key -> crons holding its deletion, as last said in an Event
    # The agentServer backend's run history, looked at in each resync pass (see observer.py).
    memo.runs = RunObserver(memo.service, grace=config.missed_run_grace)
    # Another replica could change a cron between two of our looks: then deletions always search.
    memo.service.remember_sole_crons = settings.peering.standalone
    # One lock per object: the resync pass and the change handlers must never both create a cron.
    memo.locks = {}
    # Every LangGraphCron as last seen by the watch: what the batched resync pass works on.
    memo.registry = BodyRegistry()
    memo.tasks = {}  # mutable: kopf gives each object a shallow copy of memo
    logger.info(
        "lgcron operator started: default server %s, resync every %ss",
        config.server_url or "(none)",
        config.resync_interval,
    )


@kopf.on.login()
def login(logger: logging.Logger, **_: Any) -> kopf.ConnectionInfo:
    """kopf's credentials are the operator's own client's: one rule for both (see kube.py)."""
    return connection_info(logger)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    tasks = [t for t in memo.tasks.values() if isinstance(t, asyncio.Task)] + list(memo.tasks.get("requeues", ()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await memo.http.aclose()
    await memo.service.aclose()
    await memo.events.close()
    await memo.kube.close()


def _cron_object(memo: kopf.Memo, body: Any) -> CronObject:
    return CronObject.from_body(body, cluster=memo.service.settings.cluster_id)


def _lock(memo: kopf.Memo, uid: str) -> asyncio.Lock:
    return memo.locks.setdefault(uid, asyncio.Lock())


def _post_events(memo: kopf.Memo, body: Any, result: Result) -> None:
    for event in result.events:
        memo.events.post(body, event.type, event.reason, event.message)


def _persist_cron_id(memo: kopf.Memo, obj: CronObject):
    """Write status.cronId the moment a cron exists, not at the end of the handler."""

    async def persist(cron_id: str, server_url: str) -> None:
        try:
            await memo.kube.patch_status(
                obj.identity.namespace, obj.identity.name, {"cronId": cron_id, "serverUrl": server_url}
            )
        except Exception as exc:  # the final status write carries it too; the uid search covers a crash
            logging.getLogger(__name__).warning("early status write for %s failed: %s", obj.identity.name, exc)

    return persist


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def reconcile_cron(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any) -> None:
    obj = _cron_object(memo, body)
    async with _lock(memo, obj.identity.uid):
        result = await memo.service.reconcile(obj, attempt=retry, on_cron_id=_persist_cron_id(memo, obj))
    patch.status.update(status_patch(obj.status, result.status) or {})
    _post_events(memo, body, result)
    if result.retry_after is not None:
        raise kopf.TemporaryError(result.status.conditions[0].message, delay=result.retry_after)


async def _reconcile_and_store(memo: kopf.Memo, body: Any, attempt: int = 0) -> Result:
    """Reconcile outside a kopf change handler: write status (only if changed) and Events ourselves."""
    obj = _cron_object(memo, body)
    async with _lock(memo, obj.identity.uid):
        result = await memo.service.reconcile(obj, attempt=attempt, on_cron_id=_persist_cron_id(memo, obj))
        changes = status_patch(obj.status, result.status)
        if changes:
            await memo.kube.patch_status(obj.identity.namespace, obj.identity.name, changes)
    _post_events(memo, body, result)
    return result


class BodyRegistry(Mapping[str, dict[str, Any]]):
    """The latest body of every LangGraphCron, by uid: what the resync pass and the GC read.

    A view of kopf's index `lgcron_bodies` (kopf keeps it current and drops deleted objects);
    an index handler, unlike an on.event one, does not log a line for every watch event.
    """

    def __init__(self) -> None:
        self.index: kopf.Index | None = None  # set by the index handler's first call

    def __getitem__(self, uid: str) -> dict[str, Any]:
        for body in self.index[uid] if self.index is not None else ():
            return body
        raise KeyError(uid)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.index) if self.index is not None else ())

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else 0

    # A pass walks every body: straight through kopf's stores, not a key lookup per body.
    def items(self) -> list[tuple[str, dict[str, Any]]]:  # type: ignore[override]
        return [(uid, body) for uid, store in (self.index.items() if self.index is not None else ())
                for body in itertools.islice(store, 1)]

    def values(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [body for _, body in self.items()]


@kopf.index(*RESOURCE)
async def lgcron_bodies(body: kopf.Body, memo: kopf.Memo, lgcron_bodies: kopf.Index, **_: Any) -> dict[str, Any]:
    memo.registry.index = lgcron_bodies
    if "resync" not in memo.tasks:
        # Started from the first index call: the registry's index exists from then on.
        memo.tasks["resync"] = asyncio.create_task(_resync_forever(memo), name="lgcron resync")
    if memo.service.settings.gc_interval and "gc" not in memo.tasks:
        memo.tasks["gc"] = asyncio.create_task(collect_forever(memo), name="lgcron gc")
    meta = body["metadata"]
    if meta["uid"] not in memo.registry and FINALIZER not in (meta.get("finalizers") or []) and not meta.get("deletionTimestamp"):
        memo.service.mark_pristine(meta["uid"])  # first sight, and nobody has handled it yet
    return {meta["uid"]: slim_body(body)}


# Never read from a stored body, and large: the apiserver's managedFields are a few KB on every
# object, and `kubectl apply` keeps a second copy of the whole spec in an annotation.
_UNUSED_METADATA = frozenset({"managedFields"})
_UNUSED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def slim_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without what no reader of the registry uses, so that N stored bodies cost little."""
    meta = {k: v for k, v in body["metadata"].items() if k not in _UNUSED_METADATA}
    if annotations := meta.get("annotations"):
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in _UNUSED_ANNOTATIONS}
    return {**body, "metadata": meta}


def _release_free_memory() -> None:
    """Hand the heap's free pages back to the system: a pass allocates the server's whole search
    result and N status models at once, and glibc would otherwise keep the peak as RSS for good."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        pass


async def _resync_forever(memo: kopf.Memo) -> None:
    """Periodic drift repair for all resources at once: a cron deleted or edited on the server is put
    back, nextRunDate refreshed. One paged search per server, not one request per resource."""
    interval = memo.service.settings.resync_interval
    while True:
        await asyncio.sleep(interval)
        try:
            await _resync_pass(memo)
        except Exception:  # a bad pass must not end resyncing for good
            logging.getLogger(__name__).exception("resync pass failed")
        _release_free_memory()


async def _resync_pass(memo: kopf.Memo) -> None:
    await _check_servers(memo)
    snapshot = {uid: body for uid, body in memo.registry.items() if _in_resync_pass(body)}
    memo.service.keep_only(memo.registry.keys())
    memo.runs.keep_only(memo.registry.keys())
    in_sync, dirty = await memo.service.resync(snapshot.values())
    for obj, result in in_sync:
        changes = status_patch(obj.status, result.status)
        if not changes:
            continue
        async with _lock(memo, obj.identity.uid):
            # Skip when the object changed since the snapshot: its own handler has the newer truth.
            current = memo.registry.get(obj.identity.uid)
            if current is not None and current["metadata"].get("resourceVersion") == snapshot[obj.identity.uid]["metadata"].get("resourceVersion"):
                await memo.kube.patch_status(obj.identity.namespace, obj.identity.name, changes)
    for obj in dirty:
        current = memo.registry.get(obj.identity.uid)
        if current is None or current["metadata"].get("deletionTimestamp"):
            continue  # gone or going: kopf's deletion handler has it
        if current["metadata"].get("resourceVersion") != snapshot[obj.identity.uid]["metadata"].get("resourceVersion"):
            continue  # changed since the snapshot: its handler has just reconciled (or will)
        try:
            await _reconcile_and_store(memo, current)
        except Exception:  # one object's surprise must not starve the rest of the pass
            logging.getLogger(__name__).exception("resync of %s/%s failed", obj.identity.namespace, obj.identity.name)
    await _observe_runs(memo, snapshot)


def _in_resync_pass(body: Mapping[str, Any]) -> bool:
    """Only objects kopf has put its finalizer on (a cron made for one without it could outlive it),
    not being deleted, and reconciled at least once: until then kopf's create handler has the
    object, and a pass would only parse its spec to learn that (thousands of objects, every pass,
    while a slow Agent Server keeps them queued)."""
    meta = body["metadata"]
    return (FINALIZER in (meta.get("finalizers") or []) and not meta.get("deletionTimestamp")
            and bool((body.get("status") or {}).get("conditions")))


async def _observe_runs(memo: kopf.Memo, snapshot: dict[str, Any]) -> None:
    """The run history of crons whose run time came (observer.py): status, Events and metrics."""
    for seen in await memo.runs.observe(snapshot.values()):
        obj, update = seen.obj, seen.update
        namespace, name = obj.identity.namespace, obj.identity.name
        changes = status_patch(obj.status, update.status)
        if changes:
            async with _lock(memo, obj.identity.uid or ""):
                try:
                    await memo.kube.patch_status(namespace, name, changes)
                except Exception as exc:  # the memory keeps the counts; the next write carries them
                    logging.getLogger(__name__).warning("run history of %s/%s not written: %s", namespace, name, exc)
        body = memo.registry.get(obj.identity.uid or "")
        if body is not None:
            for event in update.events:
                memo.events.post(body, event.type, event.reason, event.message)
            if seen.requeue:  # paused, or out of budget: its backend is disabled by a reconcile
                _requeue(memo, [body])


@kopf.on.event("batch", "v1", "cronjobs", labels={UID_LABEL: kopf.PRESENT})
@kopf.on.event("batch", "v1", "jobs", labels={UID_LABEL: kopf.PRESENT})
async def owned_workload_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A CronJob or Job of the cronJob backend changed: restore a hand edit, mirror run results."""
    if event.get("type") is None:
        return  # the initial listing at start-up; the resume handlers cover that
    labels = body["metadata"].get("labels") or {}
    owner = await memo.kube.get_langgraphcron(body["metadata"]["namespace"], labels.get(NAME_LABEL, ""))
    meta = owner["metadata"] if owner else {}
    if owner is None or meta["uid"] != labels[UID_LABEL] or meta.get("deletionTimestamp"):
        return  # gone or going: recreating its CronJob now would outlive it
    if FINALIZER not in (meta.get("finalizers") or []):
        return  # kopf has not taken it over yet; its create handler will reconcile it
    await _reconcile_and_store(memo, owner)


@kopf.on.delete(*RESOURCE)
async def delete_cron(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any) -> None:
    obj = _cron_object(memo, body)
    async with _lock(memo, obj.identity.uid):
        result = await memo.service.finalize(obj, attempt=retry)
    _post_events(memo, body, result)
    if not result.done:
        patch.status.update(status_patch(obj.status, result.status) or {})
        raise kopf.TemporaryError(
            result.status.conditions[0].message, delay=result.retry_after or SLOW_RETRY_SECONDS
        )
    memo.locks.pop(obj.identity.uid, None)
    memo.service.forget(obj.identity.uid)
    metrics.forget_cron(obj.identity.namespace, obj.identity.name)


# ---------------------------------------------------------------- server objects


def _with_kind(body: Any, kind: str) -> dict[str, Any]:
    """A server object's body naming its kind (list results carry none on their items)."""
    return {**slim_body(body), "kind": kind}


@kopf.index(*SERVER_RESOURCE)
async def lgcron_servers(body: kopf.Body, memo: kopf.Memo, lgcron_servers: kopf.Index, **_: Any) -> dict[Any, Any]:
    memo.servers.indexes["namespaced"] = lgcron_servers
    server = _with_kind(body, SERVER_KIND)
    return {ServerKey.of_body(server): server}


@kopf.index(*CLUSTER_SERVER_RESOURCE)
async def lgcron_cluster_servers(body: kopf.Body, memo: kopf.Memo, lgcron_cluster_servers: kopf.Index,
                                 **_: Any) -> dict[Any, Any]:
    memo.servers.indexes["cluster"] = lgcron_cluster_servers
    server = _with_kind(body, CLUSTER_SERVER_KIND)
    return {ServerKey.of_body(server): server}


@kopf.index("", "v1", "namespaces")
async def lgcron_namespace_labels(name: str, labels: kopf.Labels, memo: kopf.Memo,
                                  lgcron_namespace_labels: kopf.Index, **_: Any) -> dict[str, dict[str, str]]:
    """Namespace labels, for ClusterLangGraphServer namespaceSelector conditions. A change of them
    requeues the namespace's crons that refer to a server with a selector (the index still holds the
    old labels while this runs)."""
    memo.servers.indexes["namespaces"] = lgcron_namespace_labels
    before = memo.servers.namespace_labels(name)
    if before is not None and dict(before) != dict(labels):
        affected = []
        for body in memo.registry.values():
            if body["metadata"]["namespace"] != name:
                continue
            for key in referred_servers(body):
                server = memo.servers.server(key)
                if key.kind == CLUSTER_SERVER_KIND and server is not None and uses_namespace_labels(server):
                    affected.append(body)
                    break
        _requeue(memo, affected)
    return {name: dict(labels)}


def _is_ready(body: Any) -> bool:
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def _check_server(memo: kopf.Memo, server: dict[str, Any], *, requeue_all: bool) -> None:
    """Check a server object and requeue the crons that refer to it: all of them after a change of
    the object (its URL, key or conditions may have changed), else those waiting for it to be Ready."""
    crons = list(memo.registry.values())
    before, health = await memo.server_service.check_and_store(server, crons)
    users = referrers(ServerKey.of_body(server), crons)
    # A first check, a new reason or Ready now: the crons waiting on it say the news (and heal).
    changed = before is None or (before.ready, before.reason) != (health.ready, health.reason)
    if requeue_all:
        _requeue(memo, users)
    elif changed:
        _requeue(memo, [body for body in users if not _is_ready(body)])
    if before is None or (before.ready, before.reason) != (health.ready, health.reason):
        memo.events.post(server, "Normal" if health.ready else "Warning", health.reason, health.message)


async def _check_servers(memo: kopf.Memo) -> None:
    """The resync interval's check of every server object."""
    for server in memo.servers.servers.values():
        if server["metadata"].get("deletionTimestamp"):
            continue
        try:
            await _check_server(memo, dict(server), requeue_all=False)
        except Exception:  # one server's surprise must not stop the others' checks
            logging.getLogger(__name__).exception("check of %s failed", ServerKey.of_body(server))


def _requeue(memo: kopf.Memo, bodies: list[Any]) -> None:
    """Reconcile these crons soon, in the background, a few at a time (their own locks apply)."""
    uids = list(dict.fromkeys(body["metadata"]["uid"] for body in bodies))
    if not uids:
        return
    task = asyncio.create_task(_reconcile_uids(memo, uids), name="lgcron requeue")
    requeues = memo.tasks.setdefault("requeues", set())
    requeues.add(task)
    task.add_done_callback(requeues.discard)


async def _reconcile_uids(memo: kopf.Memo, uids: list[str]) -> None:
    gate = asyncio.Semaphore(REQUEUE_CONCURRENCY)

    async def one(uid: str) -> None:
        async with gate:
            body = memo.registry.get(uid)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            if FINALIZER not in (body["metadata"].get("finalizers") or []):
                return  # kopf has not taken it over yet; its create handler will reconcile it
            try:
                await _reconcile_and_store(memo, body)
            except Exception:  # one object's surprise must not starve the rest
                logging.getLogger(__name__).exception("requeue of %s failed", uid)

    await asyncio.gather(*(one(uid) for uid in uids))


@kopf.on.resume(*SERVER_RESOURCE)
@kopf.on.create(*SERVER_RESOURCE)
@kopf.on.update(*SERVER_RESOURCE)
async def server_changed(body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
    await _check_server(memo, _with_kind(body, SERVER_KIND), requeue_all=reason != "resume")


@kopf.on.resume(*CLUSTER_SERVER_RESOURCE)
@kopf.on.create(*CLUSTER_SERVER_RESOURCE)
@kopf.on.update(*CLUSTER_SERVER_RESOURCE)
async def cluster_server_changed(body: kopf.Body, reason: str, memo: kopf.Memo, **_: Any) -> None:
    await _check_server(memo, _with_kind(body, CLUSTER_SERVER_KIND), requeue_all=reason != "resume")


# How often a deletion held by crons still in use looks again (only while such a deletion waits).
SERVER_IN_USE_RETRY_SECONDS = 5.0


async def _hold_while_used(memo: kopf.Memo, server: dict[str, Any]) -> None:
    """A server object's key is what deletes its crons: it stays until no LangGraphCron uses it."""
    users = await memo.server_service.hold_while_used(server, list(memo.registry.values()))
    if users:
        shown = ", ".join(users[:10]) + (f" and {len(users) - 10} more" if len(users) > 10 else "")
        message = f"deletion held: {len(users)} LangGraphCron(s) still refer to it: {shown}"
        if memo.held_servers.get(ServerKey.of_body(server)) != len(users):  # an Event per change, not per look
            memo.events.post(server, "Warning", "InUse", message)
            memo.held_servers[ServerKey.of_body(server)] = len(users)
        raise kopf.TemporaryError(message, delay=SERVER_IN_USE_RETRY_SECONDS)
    memo.held_servers.pop(ServerKey.of_body(server), None)
    memo.service.invalidate_server(ServerKey.of_body(server))


@kopf.on.delete(*SERVER_RESOURCE)
async def server_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await _hold_while_used(memo, _with_kind(body, SERVER_KIND))


@kopf.on.delete(*CLUSTER_SERVER_RESOURCE)
async def cluster_server_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await _hold_while_used(memo, _with_kind(body, CLUSTER_SERVER_KIND))
