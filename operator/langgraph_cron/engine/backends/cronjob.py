"""The cronJob backend: a native batch/v1 CronJob, owned by its LangGraphCron, whose Pods run
`lgcron invoke`. The CronJob itself is built by core/cronjob.py (a pure function); here it is
applied, its Jobs are read for the run history, a trigger becomes a Job, and deletion removes it
(Orphan: releases it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from langgraph_cron.clients import metrics
from langgraph_cron.core import history, runcontrol
from langgraph_cron.core.connections import Connection
from langgraph_cron.core.cronjob import (
    UID_LABEL,
    InvokerTarget,
    build_cronjob,
    build_cronjob_status,
    cronjob_name,
    cronjob_update,
    is_controlled_by,
    job_from_cronjob,
    refreshed_cronjob_schedule,
)
from langgraph_cron.core.models import (
    LangGraphCronSpec,
    LangGraphCronStatus,
    SecretKeyRef,
    TriggerState,
    format_time,
)
from langgraph_cron.core.objects import CronObject, Result
from langgraph_cron.core.spec import InvalidSpec, ServerNotAllowed
from langgraph_cron.core.status import EventRecord, Outcome
from langgraph_cron.engine.backends import Applied, Backend, Work
from langgraph_cron.engine.parts import KubeApi, Parts


class CronJobConflict(Exception):
    """A CronJob of the derived name exists but belongs to someone else: never take it over."""

    reason = "CronJobConflict"


class CronJobBackend(Backend):
    name: ClassVar[str] = "cronJob"

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def _kube(self) -> KubeApi:
        if self.parts.kube is None:
            raise InvalidSpec(f"spec.backend: {self.name} needs the operator (Kubernetes access); use agentServer here")
        return self.parts.kube

    async def observe(self, work: Work, previous: LangGraphCronStatus) -> LangGraphCronStatus:
        """The Jobs first: a failure streak they show may pause the CronJob in this same pass."""
        obj = work.obj
        jobs = await self._kube().list_jobs(obj.identity.namespace, f"{UID_LABEL}={obj.identity.uid}")
        folded = history.fold(previous, history.runs_from_jobs(jobs), now=work.now, generation=obj.generation)
        work.events.extend(folded.events)
        metrics.record_runs(obj.identity.namespace, obj.identity.name, folded.counted,
                            folded.status.runs.consecutive_failures if folded.status.runs else 0)
        return folded.status

    async def ensure(self, work: Work) -> Applied:
        obj, spec, now, events = work.obj, work.backend_spec, work.now, work.events
        kube = self._kube()
        target = InvokerTarget(
            server_url=work.target.url, api_key_secret=self.pod_secret(work.target, obj.identity.namespace),
            image=self.parts.settings.invoker_image,
        )
        desired = build_cronjob(spec, obj.identity, target, now)
        namespace, name = obj.identity.namespace, desired["metadata"]["name"]
        observed = await kube.get_cronjob(namespace, name)
        if observed is None:
            observed = await kube.create_cronjob(desired)
            if obj.status.cron_job_name:
                events.append(EventRecord("Warning", "Recreated", f"CronJob {name} was missing; created it again"))
            else:
                events.append(EventRecord("Normal", "Created", f"created CronJob {name}"))
        elif not is_controlled_by(observed, obj.identity.uid):
            raise CronJobConflict(f"CronJob {namespace}/{name} exists and is not owned by this LangGraphCron")
        elif (patch := cronjob_update(desired, observed)) is not None:
            observed = await kube.patch_cronjob(namespace, name, patch) or observed
            events.append(EventRecord("Normal", "Updated", f"updated CronJob {name}"))
        assert work.control is not None
        status = build_cronjob_status(work.control.status, outcome=work.control.stopped or Outcome.ready(work.spec, now),
                                      generation=obj.generation, now=now, spec=spec, cronjob=observed)
        return Applied(status=status, handle=observed)

    def pod_secret(self, connection: Connection, namespace: str) -> SecretKeyRef | None:
        """The Secret whose key the Pods get: only one bound to the URL they call, and only from their
        own namespace (whoever runs Pods there can read it, so it must be theirs)."""
        if connection.secret is not None and connection.secret.namespace != namespace:
            raise ServerNotAllowed(
                f"spec.backend: cronJob runs each run in a Pod of namespace {namespace!r}, and the key of "
                f"{connection.via} lives in namespace {connection.secret.namespace!r}: it is never handed to "
                "Pods. Use backend agentServer, or a LangGraphServer (and its Secret) in this namespace"
            )
        if connection.ca_bundle or connection.ca_bundle_ref:
            raise InvalidSpec(
                f"spec.backend: cronJob Pods cannot use the caBundle of {connection.via} yet; use backend agentServer"
            )
        if connection.secret is None and connection.operator_key and self.parts.settings.api_key is not None:
            raise InvalidSpec(
                "spec.server.apiKeySecretRef: the cronJob backend hands the API key to its Pods only from a "
                "Secret; set apiKeySecretRef (or the operator's LGCRON_API_KEY_SECRET)"
            )
        if connection.secret is None:
            return None
        return SecretKeyRef(name=connection.secret.name, key=connection.secret.key)

    async def trigger(self, work: Work, applied: Applied, value: str) -> tuple[TriggerState, str]:
        """A Job from the CronJob's template now, owned by it; its name comes from the value (409: made)."""
        cronjob: dict[str, Any] = applied.handle
        name = runcontrol.trigger_job_name(cronjob["metadata"]["name"], value)
        job = job_from_cronjob(cronjob, name, {runcontrol.TRIGGER_ANNOTATION: value})
        await self._kube().create_job(job)
        return TriggerState(value=value, time=format_time(work.now), job_name=name), f"created Job {name}"

    async def retire(self, work: Work) -> None:
        await self._remove(work.obj, work.events, orphan=False)

    async def delete(self, obj: CronObject, events: list[EventRecord], *, orphan: bool) -> Result | None:
        await self._remove(obj, events, orphan=orphan)
        return None

    async def _remove(self, obj: CronObject, events: list[EventRecord], *, orphan: bool) -> None:
        """Delete (or, for Orphan, release) this object's CronJob, if it ever had one."""
        kube = self.parts.kube
        if kube is None or not (obj.status.cron_job_name or obj.status.backend == self.name):
            return
        namespace, name = obj.identity.namespace, obj.status.cron_job_name or cronjob_name(obj.identity.name)
        observed = await kube.get_cronjob(namespace, name)
        if observed is None or not is_controlled_by(observed, obj.identity.uid):
            return
        if orphan:
            # Without its owner reference, garbage collection would delete it with the resource.
            await kube.patch_cronjob(namespace, name, {"metadata": {"ownerReferences": None}})
            events.append(EventRecord("Normal", "Orphaned", f"left CronJob {name} in place"))
        else:
            await kube.delete_cronjob(namespace, name)
            events.append(EventRecord("Normal", "Deleted", f"deleted CronJob {name}"))

    def resync_locally(self, obj: CronObject, spec: LangGraphCronSpec, now: datetime) -> Result | None:
        """CronJob drift arrives as watch events; only time-driven changes are left to check."""
        ready = obj.status.condition("Ready")
        if ready is None or Outcome.ready(spec, now).reason != ready.reason:
            return None
        return Result(status=refreshed_cronjob_schedule(obj.status, spec, now))
