"""The status of a LangGraphCron: conditions from an outcome, the whole status, and the merge patch
between two. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from langgraph_cron.core.models import (
    Condition,
    LangGraphCronSpec,
    LangGraphCronStatus,
    ServerObjectRef,
    format_time,
)
from langgraph_cron.core.schedule import (
    upcoming_runs,
)


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event to post about the object (the service, the run history and run control all say them)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str



# ---------------------------------------------------------------- status


ReadyReason = Literal["Scheduled", "Suspended", "Expired"]


@dataclass(frozen=True)
class Outcome:
    """How a reconcile ended, in condition terms."""

    reason: str
    message: str
    # ready: Ready=True. retrying: Ready=False and the operator retries by itself. stalled: Ready=False
    # until the spec changes (kstatus "Failed").
    kind: Literal["ready", "retrying", "stalled"]

    @classmethod
    def ready(cls, spec: LangGraphCronSpec, now: datetime) -> Outcome:
        if spec.is_expired(now):
            assert spec.end_time is not None
            return cls("Expired", f"endTime {format_time(spec.end_time)} has passed; the cron is disabled", "ready")
        if not spec.enabled:
            return cls("Suspended", "spec.enabled is false; the cron is disabled", "ready")
        where = "as a Kubernetes CronJob" if spec.backend == "cronJob" else "on the Agent Server"
        return cls("Scheduled", f"the cron is scheduled {where}", "ready")


def build_conditions(
    outcome: Outcome, previous: list[Condition], generation: int | None, now: datetime
) -> list[Condition]:
    """Ready, Reconciling and Stalled for an outcome; lastTransitionTime moves only when status flips."""
    before = {c.type: c for c in previous}
    ready = outcome.kind == "ready"
    wanted = [
        ("Ready", ready, outcome.reason, outcome.message),
        (
            "Reconciling",
            outcome.kind == "retrying",
            outcome.reason if outcome.kind == "retrying" else "Reconciled",
            f"retrying: {outcome.message}" if outcome.kind == "retrying" else "",
        ),
        (
            "Stalled",
            outcome.kind == "stalled",
            outcome.reason if outcome.kind == "stalled" else "NotStalled",
            f"{outcome.message}; fix the spec to retry" if outcome.kind == "stalled" else "",
        ),
    ]
    conditions = []
    # Conditions about other things (LastRunSucceeded: the runs, not the cron) are kept as they are.
    others = [c for c in previous if c.type not in ("Ready", "Reconciling", "Stalled")]
    for type_, is_true, reason, message in wanted:
        status = "True" if is_true else "False"
        old = before.get(type_)
        transition = old.last_transition_time if old and old.status == status and old.last_transition_time else None
        conditions.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                observed_generation=generation,
                last_transition_time=transition or format_time(now),
            )
        )
    return conditions + others


def build_status(
    previous: LangGraphCronStatus,
    *,
    outcome: Outcome,
    generation: int | None,
    now: datetime,
    spec: LangGraphCronSpec | None = None,
    cron: Any = None,
    server_url: str | None = None,
    server_ref: ServerObjectRef | None = None,
) -> LangGraphCronStatus:
    """The status to write after a reconcile. Cron facts are kept from `previous` when `cron` is None."""
    status = previous.model_copy(deep=True)
    status.observed_generation = generation
    status.conditions = build_conditions(outcome, previous.conditions, generation, now)
    if cron is not None:
        if previous.backend == "cronJob":  # the Jobs' history is not this backend's
            status.cron_job_name = status.last_schedule_time = status.last_successful_time = None
            status.last_failure_time = status.last_run = status.active_runs = status.runs = None
        status.backend = "agentServer"
        status.cron_id = cron.cron_id
        status.server_url = server_url
        status.server_ref = server_ref
        status.assistant_id = cron.assistant_id
        status.thread_id = spec.thread_id if spec else None
        status.last_sync_time = format_time(now)
        active = spec is not None and spec.enabled and not spec.is_expired(now)
        status.effective_schedule = spec.schedule if spec else None
        status.next_run_date = format_time(cron.next_run_date) if active and cron.next_run_date else None
        status.upcoming_runs = (
            [format_time(t) for t in upcoming_runs(spec.schedule, spec.timezone, now)] if active and spec else None
        )
    return status


def status_patch(old: LangGraphCronStatus, new: LangGraphCronStatus) -> dict[str, Any] | None:
    """A merge patch for `.status`, or None when nothing but lastSyncTime would change (no churn)."""
    old_dump = old.model_dump(by_alias=True, exclude_none=True, mode="json")
    new_dump = new.model_dump(by_alias=True, exclude_none=True, mode="json")
    if {k: v for k, v in old_dump.items() if k != "lastSyncTime"} == {
        k: v for k, v in new_dump.items() if k != "lastSyncTime"
    }:
        return None
    patch: dict[str, Any] = {k: v for k, v in new_dump.items() if old_dump.get(k) != v}
    for gone in set(old_dump) - set(new_dump):
        patch[gone] = None  # merge-patch null deletes the key
    return patch
