"""The cronJob backend's pure parts: the CronJob object for a spec, drift checks, and status.

`build_cronjob` is a pure function (spec in, CronJob out); `service.py` applies it. Each Pod
runs `lgcron invoke` with the same request body a server cron would hold, so the two backends
run exactly the same payload.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langgraph_cron.core.models import (
    GROUP,
    KIND,
    VERSION,
    CronJobOptions,
    LangGraphCronSpec,
    LangGraphCronStatus,
    SecretKeyRef,
    format_time,
)
from langgraph_cron.core.plan import desired_cron
from langgraph_cron.core.schedule import upcoming_runs
from langgraph_cron.core.spec import Identity
from langgraph_cron.core.status import Outcome, build_status

MAX_CRONJOB_NAME = 52  # Kubernetes appends an 11-character suffix to Job names, within 63
MANAGED_BY = "langgraph-cron-operator"
UID_LABEL = "lgcron.io/uid"
NAME_LABEL = "lgcron.io/name"
REQUEST_ENV = "LGCRON_RUN_REQUEST"
CONTAINER_NAME = "invoke"
# The invoker needs no Kubernetes API access, and runs as the image's fixed non-root user.
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def cronjob_name(resource_name: str) -> str:
    """The resource's own name when it fits, else a cut name with a short hash to stay unique."""
    if len(resource_name) <= MAX_CRONJOB_NAME:
        return resource_name
    digest = hashlib.sha256(resource_name.encode()).hexdigest()[:8]
    return f"{resource_name[: MAX_CRONJOB_NAME - 9].rstrip('-.')}-{digest}"


def owner_labels(identity: Identity) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": MANAGED_BY, NAME_LABEL: identity.name, UID_LABEL: identity.uid}


@dataclass(frozen=True)
class InvokerTarget:
    """Where the Pods send their run: the server, its key's Secret, and the invoker image."""

    server_url: str
    api_key_secret: SecretKeyRef | None
    image: str


def run_request(spec: LangGraphCronSpec, identity: Identity, now: datetime) -> dict[str, Any]:
    """The body `lgcron invoke` receives: the server-cron body, plus the thread for a thread cron."""
    request = desired_cron(spec, identity, now, forward_end_time=False)
    if spec.thread_id:
        request["thread_id"] = spec.thread_id
    return request


def is_suspended(spec: LangGraphCronSpec, now: datetime) -> bool:
    return not spec.enabled or spec.is_expired(now)


def build_cronjob(spec: LangGraphCronSpec, identity: Identity, target: InvokerTarget, now: datetime) -> dict[str, Any]:
    options = spec.cron_job or CronJobOptions()
    labels = owner_labels(identity)
    env: list[dict[str, Any]] = [
        {"name": "LGCRON_SERVER_URL", "value": target.server_url},
        {"name": REQUEST_ENV, "value": json.dumps(run_request(spec, identity, now), sort_keys=True)},
        {"name": "LGCRON_JOB_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}},
    ]
    if target.api_key_secret is not None:
        ref = target.api_key_secret
        env.append({"name": "LGCRON_API_KEY", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": options.image or target.image,
        "args": ["invoke"],
        "env": env,
        "securityContext": CONTAINER_SECURITY,
    }
    if options.image_pull_policy:
        container["imagePullPolicy"] = options.image_pull_policy
    if options.resources:
        container["resources"] = options.resources
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    if options.service_account_name:
        pod_spec["serviceAccountName"] = options.service_account_name
    pod_metadata: dict[str, Any] = {"labels": {**(options.pod_labels or {}), **labels}}
    if options.pod_annotations:
        pod_metadata["annotations"] = dict(options.pod_annotations)
    job_spec: dict[str, Any] = {
        # One attempt per schedule: `lgcron invoke` retries transient errors itself, so a failed Job
        # means a failed run, which is what alerting on failed Jobs should see.
        "backoffLimit": 0,
        "template": {"metadata": pod_metadata, "spec": pod_spec},
    }
    # spec.runTimeoutSeconds is the Job's deadline unless cronJob.activeDeadlineSeconds says otherwise;
    # `lgcron invoke` cancels the run when the deadline stops its Pod (SIGTERM).
    deadline = options.active_deadline_seconds or spec.run_timeout_seconds
    if deadline is not None:
        job_spec["activeDeadlineSeconds"] = deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name(identity.name),
            "namespace": identity.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": identity.name,
                    "uid": identity.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "schedule": spec.schedule,
            # Without it the controller uses its own local zone; say UTC explicitly.
            "timeZone": spec.timezone or "Etc/UTC",
            "suspend": is_suspended(spec, now),
            "concurrencyPolicy": options.concurrency_policy,
            "startingDeadlineSeconds": options.starting_deadline_seconds,
            "successfulJobsHistoryLimit": options.successful_jobs_history_limit,
            "failedJobsHistoryLimit": options.failed_jobs_history_limit,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": job_spec},
        },
    }


def is_controlled_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller") for ref in obj["metadata"].get("ownerReferences") or [])


def drifted(desired: Any, observed: Any) -> bool:
    """True when `observed` lacks or differs from anything `desired` sets.

    Fields the API server adds (defaults) are not drift; lists must match item by item, so an
    env var added or removed by hand is.
    """
    if isinstance(desired, dict):
        return not isinstance(observed, dict) or any(drifted(v, observed.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            not isinstance(observed, list)
            or len(desired) != len(observed)
            or any(drifted(d, o) for d, o in zip(desired, observed, strict=True))
        )
    return desired != observed


def managed_part(cronjob: dict[str, Any]) -> dict[str, Any]:
    """What the operator owns in a CronJob: its labels, owner and spec (not status or server fields)."""
    meta = cronjob["metadata"]
    return {"metadata": {"labels": meta.get("labels"), "ownerReferences": meta.get("ownerReferences")}, "spec": cronjob.get("spec")}


def _get(obj: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _set(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
    obj[path[-1]] = value


# Optional fields the builder sets only when configured: a merge patch cannot remove them by
# omission, so an override the user dropped is nulled explicitly.
_OPTIONAL_FIELDS = [
    ("spec", "jobTemplate", "spec", "activeDeadlineSeconds"),
    ("spec", "jobTemplate", "spec", "template", "spec", "serviceAccountName"),
    ("spec", "jobTemplate", "spec", "template", "spec", "serviceAccount"),  # the deprecated mirror
]
_POD_METADATA = ("spec", "jobTemplate", "spec", "template", "metadata")


def stale_fields(desired: dict[str, Any], observed: dict[str, Any]) -> dict[str, Any]:
    """A merge patch of nulls for what the operator once set but the spec no longer asks for."""
    patch: dict[str, Any] = {}
    for path in _OPTIONAL_FIELDS:
        if _get(observed, *path) is not None and _get(desired, *path) is None:
            _set(patch, path, None)
    for part in ("labels", "annotations"):
        wanted = _get(desired, *_POD_METADATA, part) or {}
        for key in _get(observed, *_POD_METADATA, part) or {}:
            if key not in wanted:
                _set(patch, (*_POD_METADATA, part, key), None)
    return patch


def cronjob_update(desired: dict[str, Any], observed: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch that restores `desired` in `observed`, or None when nothing drifted."""
    stale = stale_fields(desired, observed)
    wanted = managed_part(desired)
    if not stale and not drifted(wanted, observed):
        return None
    return _merge(wanted, stale)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def build_cronjob_status(
    previous: LangGraphCronStatus,
    *,
    outcome: Outcome,
    generation: int | None,
    now: datetime,
    spec: LangGraphCronSpec,
    cronjob: dict[str, Any],
) -> LangGraphCronStatus:
    """The status of the cronJob backend (its Jobs are folded into the run history by the caller)."""
    status = build_status(previous, outcome=outcome, generation=generation, now=now)
    runs = [] if is_suspended(spec, now) else upcoming_runs(spec.schedule, spec.timezone, now)
    return status.model_copy(
        update={
            "backend": "cronJob",
            "cron_id": None,
            "server_url": None,
            "server_ref": None,
            "assistant_id": None,
            "thread_id": spec.thread_id,
            "cron_job_name": cronjob["metadata"]["name"],
            "effective_schedule": spec.schedule,
            "next_run_date": format_time(runs[0]) if runs else None,
            "upcoming_runs": [format_time(t) for t in runs] or None,
            "last_sync_time": format_time(now),
        }
    )


def job_from_cronjob(cronjob: dict[str, Any], name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A Job from the CronJob's template, owned by it, as `kubectl create job --from=cronjob/NAME` makes one."""
    template = cronjob["spec"]["jobTemplate"]
    meta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cronjob["metadata"]["namespace"],
            "labels": {**(meta.get("labels") or {}), **(cronjob["metadata"].get("labels") or {})},
            "annotations": {**(meta.get("annotations") or {}), "cronjob.kubernetes.io/instantiate": "manual",
                            **annotations},
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob["metadata"]["name"],
                "uid": cronjob["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": template["spec"],
    }


def refreshed_cronjob_schedule(previous: LangGraphCronStatus, spec: LangGraphCronSpec, now: datetime) -> LangGraphCronStatus:
    """The status with nextRunDate/upcomingRuns moved on to `now` (nothing else changes)."""
    runs = [] if is_suspended(spec, now) else upcoming_runs(spec.schedule, spec.timezone, now)
    return previous.model_copy(
        update={"next_run_date": format_time(runs[0]) if runs else None, "upcoming_runs": [format_time(t) for t in runs] or None}
    )
