"""kopf handlers of LangGraphCron objects (and of the cronJob backend's CronJobs and Jobs): each parses
the body, hands it to the engine's runtime, and returns what it says. No decisions here."""

from __future__ import annotations

from typing import Any

import kopf

from langgraph_cron.controller.registry import slim_body
from langgraph_cron.core.cronjob import NAME_LABEL, UID_LABEL
from langgraph_cron.core.models import GROUP, PLURAL, VERSION
from langgraph_cron.engine.passes import start_passes, verify_in_bulk
from langgraph_cron.engine.runtime import Runtime
from langgraph_cron.engine.service import SLOW_RETRY_SECONDS

RESOURCE = (GROUP, VERSION, PLURAL)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def reconcile_cron(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, reason: kopf.Reason,
                         **_: Any) -> None:
    runtime: Runtime = memo.runtime
    obj = runtime.cron_object(body)
    if reason == kopf.Reason.RESUME and retry == 0 and verify_in_bulk(runtime, obj):
        return  # a start or a takeover: its status says in sync, so the first pass verifies it with its peers
    result = await runtime.reconcile(obj, retry)
    runtime.writer.into_handler_patch(patch, obj, result, body)
    if result.retry_after is not None:
        raise kopf.TemporaryError(result.status.conditions[0].message, delay=result.retry_after)


@kopf.on.delete(*RESOURCE)
async def delete_cron(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    obj = runtime.cron_object(body)
    result = await runtime.finalize(obj, retry)
    if result.done:
        runtime.writer.post(body, result.events)
        return
    runtime.writer.into_handler_patch(patch, obj, result, body)
    raise kopf.TemporaryError(result.status.conditions[0].message, delay=result.retry_after or SLOW_RETRY_SECONDS)


@kopf.on.event(*RESOURCE)
async def lgcron_bodies(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The registry the passes read. An event handler, not a kopf index: an index makes kopf wait for
    every object's first event before any handler runs, which rules out kopf's worker limit (see
    startup.py), and so lets a backlog of thousands of objects be handled all at once."""
    runtime: Runtime = memo.runtime
    start_passes(runtime)
    uid = body["metadata"]["uid"]
    if event.get("type") == "DELETED":
        memo.registry.forget(uid)
        return
    runtime.first_sight(body)  # before it is remembered: first sight means not in the registry yet
    memo.registry.remember(uid, slim_body(body))


@kopf.on.event("batch", "v1", "cronjobs", labels={UID_LABEL: kopf.PRESENT})
@kopf.on.event("batch", "v1", "jobs", labels={UID_LABEL: kopf.PRESENT})
async def owned_workload_changed(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A CronJob or Job of the cronJob backend changed: restore a hand edit, mirror run results."""
    if event.get("type") is None:
        return  # the initial listing at start-up; the resume handlers cover that
    runtime: Runtime = memo.runtime
    labels = body["metadata"].get("labels") or {}
    owner = await runtime.kube.get_langgraphcron(body["metadata"]["namespace"], labels.get(NAME_LABEL, ""))
    await runtime.owned_workload_changed(body, owner, labels[UID_LABEL])
