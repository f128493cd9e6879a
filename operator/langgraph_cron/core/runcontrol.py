"""Control over runs: pause on failure, run budgets, and triggers. Pure decisions.

* **Pause on failure** (spec.failurePolicy.pauseAfterConsecutiveFailures): once that many runs in a
  row failed, status.paused is set and the backend disabled (spec unchanged). Only a person resumes
  it: a new generation (any spec change), a new value of the lgcron.io/resume annotation, or
  `lgcron resume` (which sets it). All of it lives in status, so a restart neither pauses nor
  resumes anything by itself.
* **Run budget** (spec.maxRuns): every counted run uses one, scheduled or triggered (each costs the
  same). At zero the backend is disabled; raising maxRuns re-enables it.
* **Trigger** (the lgcron.io/trigger annotation): a new value starts one run now, recorded in
  status.lastTrigger so the same value never starts a second. `trigger_refusal` says when it may not.

The I/O (starting the run, disabling the backend) is the service's; this module only decides.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langgraph_cron.core.models import (
    RESERVED_METADATA_PREFIX,
    LangGraphCronSpec,
    LangGraphCronStatus,
    PauseState,
    RunCounters,
    format_time,
)
from langgraph_cron.core.status import EventRecord, Outcome

TRIGGER_ANNOTATION = f"{RESERVED_METADATA_PREFIX}trigger"
RESUME_ANNOTATION = f"{RESERVED_METADATA_PREFIX}resume"
# Run metadata: which trigger value started a run (how a retry after a crash finds it).
TRIGGER_KEY = TRIGGER_ANNOTATION
# Trigger threads get ids derived from (resource uid, trigger value): creating one twice is a no-op.
_TRIGGER_THREADS = uuid.UUID("6f1d3b1e-8d2a-4c55-9a5e-3c1f0b7a2d90")

# Not run fields: scheduling belongs to the CronJob; the others choose the endpoint.
NOT_RUN_FIELDS = ("schedule", "timezone", "enabled", "end_time", "thread_id", "on_run_completed")



@dataclass
class Control:
    status: LangGraphCronStatus
    events: list[EventRecord] = field(default_factory=list)
    # Why the backend must stay disabled although the spec enables it (None: it need not).
    stopped: Outcome | None = None
    newly_stopped: bool = False


def apply_controls(spec: LangGraphCronSpec, status: LangGraphCronStatus, *, generation: int | None,
                   annotations: Mapping[str, str], now: datetime) -> Control:
    """The status after the failure policy, the run budget and any resume request are applied."""
    status = status.model_copy(deep=True)
    events: list[EventRecord] = []
    was_stopped = status.paused is not None or (status.runs is not None and status.runs.remaining == 0)
    resume = annotations.get(RESUME_ANNOTATION)
    if status.paused is not None:
        why = None
        if generation is not None and (status.paused.generation is None or generation > status.paused.generation):
            why = "the spec changed"
        elif resume is not None and resume != status.last_resume:
            why = f"{RESUME_ANNOTATION} is {resume!r}"
        if why is not None:
            status.paused = None
            if status.runs is not None:
                status.runs.consecutive_failures = 0
            events.append(EventRecord("Normal", "Resumed", f"resumed: {why}; consecutive failures reset to 0"))
    if resume is not None:
        status.last_resume = resume  # a value seen while running does not resume a later pause

    limit = spec.failure_policy.pause_after_consecutive_failures if spec.failure_policy else None
    streak = status.runs.consecutive_failures if status.runs else 0
    if status.paused is None and limit is not None and streak >= limit:
        error = status.runs.last_error if status.runs else None
        status.paused = PauseState(since=format_time(now), consecutive_failures=streak, last_error=error,
                                   generation=generation)
        events.append(EventRecord("Warning", "PausedAfterFailures", pause_message(status.paused)))

    if spec.max_runs is not None:
        runs = status.runs or RunCounters()
        runs.remaining = max(0, spec.max_runs - runs.succeeded - runs.failed)
        status.runs = runs
    elif status.runs is not None:
        status.runs.remaining = None

    stopped = None
    if status.paused is not None:
        stopped = Outcome("PausedAfterFailures", pause_message(status.paused), "stalled")
    elif status.runs is not None and status.runs.remaining == 0:
        counted = status.runs.succeeded + status.runs.failed
        stopped = Outcome("RunBudgetExhausted", f"{counted} of spec.maxRuns {spec.max_runs} runs used; the cron is "
                          "disabled (raise maxRuns to run again)", "ready")
        if not was_stopped:
            events.append(EventRecord("Normal", "RunBudgetExhausted", stopped.message))
    return Control(status=status, events=events, stopped=stopped, newly_stopped=stopped is not None and not was_stopped)


def pause_message(paused: PauseState) -> str:
    last = f"; last error: {paused.last_error}" if paused.last_error else ""
    return (f"paused after {paused.consecutive_failures} failed runs in a row{last}. Resume: change the spec, "
            f"set the {RESUME_ANNOTATION} annotation to a new value, or run `lgcron resume NAMESPACE/NAME`")


def trigger_refusal(spec: LangGraphCronSpec, stopped: Outcome | None, now: datetime) -> str | None:
    """Why a trigger may not start a run now, or None."""
    if not spec.enabled:
        return "the cron is suspended (spec.enabled: false)"
    if spec.is_expired(now):
        return "the cron has expired (spec.endTime has passed)"
    if stopped is not None:
        return f"the cron is stopped ({stopped.reason}): {stopped.message}"
    return None


def pending_trigger(annotations: Mapping[str, str], status: LangGraphCronStatus) -> str | None:
    """The lgcron.io/trigger value not handled yet, if any."""
    value = annotations.get(TRIGGER_ANNOTATION)
    if not value or (status.last_trigger is not None and status.last_trigger.value == value):
        return None
    return value


def settled_by_its_status(status: LangGraphCronStatus, generation: int | None, annotations: Mapping[str, str]) -> bool:
    """Whether a resource's own status says its cron was in sync and nothing waits for a reconcile: Ready
    for this generation, a cron id, no trigger or resume value unhandled. On a restart or a takeover such
    a resource is verified by the first batched pass with its peers (one paged search per server), not by
    a search of its own. A create that may have been sent without its id recorded (status.createSent
    true, no cronId) is not settled: only its own search can find that cron."""
    ready = status.condition("Ready")
    if ready is None or ready.status != "True" or status.observed_generation != generation:
        return False
    if status.cron_id is None and status.cron_job_name is None:
        return False
    if pending_trigger(annotations, status) is not None:
        return False
    resume = annotations.get(RESUME_ANNOTATION)
    return resume is None or resume == status.last_resume


def trigger_thread_id(uid: str, value: str) -> str:
    """The thread of a stateless cron's triggered run: the same for the same resource and value."""
    return str(uuid.uuid5(_TRIGGER_THREADS, f"{uid}/{value}"))


def trigger_job_name(cronjob_name: str, value: str) -> str:
    """The Job a trigger creates: the same name for the same value (a second create is a 409)."""
    return f"{cronjob_name[:52]}-t{hashlib.sha256(value.encode()).hexdigest()[:9]}"


def run_body(request: Mapping[str, Any], metadata: Mapping[str, str]) -> dict[str, Any]:
    """A run's request body from a cron's body (what `lgcron invoke` sends, too)."""
    body = {k: v for k, v in request.items() if k not in NOT_RUN_FIELDS}
    body.setdefault("input", {})
    body["metadata"] = {**(body.get("metadata") or {}), **metadata}
    return body


def backend_spec(spec: LangGraphCronSpec, control: Control) -> LangGraphCronSpec:
    """What the backend gets: disabled while paused or out of budget, the spec itself unchanged."""
    return spec.model_copy(update={"enabled": False}) if control.stopped is not None else spec
