"""Run history: did a cron's runs happen, and did they work? The same answer for both backends.

Runs are observed as the backend keeps them: the threads of a stateless cron's runs (kept with
onRunCompleted: keep, pruned here beyond the limits), the runs on a thread cron's thread, or the
cronJob backend's Jobs. `fold` turns what is observed now plus the status written before into the
new status fields, the Events and the threads to prune. Counting is exactly once per run across
restarts and resyncs: a cursor in status (a time, plus the runs at or after it already counted)
says what has been counted; `HistoryMemory` keeps this process's newest fold ahead of the watch.

Pure functions; the I/O is `observer.py` (the agentServer backend's batched pass) and the
service's reconcile (the cronJob backend's Jobs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langgraph_cron.core.models import (
    ActiveRun,
    Condition,
    LangGraphCronSpec,
    LangGraphCronStatus,
    LastRun,
    RunCounters,
    RunCursor,
    RunHistoryOptions,
    RunResult,
    format_time,
)
from langgraph_cron.core.spec import UID_KEY
from langgraph_cron.core.status import EventRecord

# An error line in status and Events: the first line of the error, at most this long.
MAX_ERROR_LINE = 200
LAST_RUN_CONDITION = "LastRunSucceeded"


@dataclass(frozen=True)
class ObservedRun:
    key: str  # what identifies it for counting: thread id (stateless), run id (thread cron), Job name
    result: RunResult
    start: datetime
    finish: datetime | None = None
    run_id: str | None = None
    thread_id: str | None = None
    job_name: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.result in ("Failed", "TimedOut")


def error_line(text: Any, *, secrets: Iterable[str] = ()) -> str | None:
    """One line of an error, bounded, with any known secret blanked out."""
    if text is None:
        return None
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return line if len(line) <= MAX_ERROR_LINE else line[: MAX_ERROR_LINE - 1] + "…"


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------- observing

# Measured on langgraph-api 0.16.7: a stateless run's kept thread is `busy` while it runs, then
# `idle` (success), `error` (with `error: {error, message}`) or `interrupted` (stopped at an
# interrupt the cron asked for: the run did what it was told, so it counts as succeeded).
_THREAD_RESULTS: dict[str, RunResult] = {"busy": "Running", "idle": "Succeeded", "interrupted": "Succeeded",
                                         "error": "Failed"}
# A run's own status (a thread cron's runs): pending, running, success, error, timeout, interrupted.
_RUN_RESULTS: dict[str, RunResult] = {"pending": "Running", "running": "Running", "success": "Succeeded",
                                      "interrupted": "Succeeded", "error": "Failed", "timeout": "TimedOut"}


def runs_from_threads(threads: Iterable[Mapping[str, Any]], *, secrets: Iterable[str] = ()) -> dict[str, list[ObservedRun]]:
    """Runs of stateless crons, one per kept thread, by the owning resource's uid."""
    found: dict[str, list[ObservedRun]] = {}
    keys = list(secrets)
    for thread in threads:
        uid = (thread.get("metadata") or {}).get(UID_KEY)
        start = _time(thread.get("created_at"))
        result = _THREAD_RESULTS.get(str(thread.get("status")))
        if not uid or start is None or result is None:
            continue
        error = thread.get("error") if isinstance(thread.get("error"), Mapping) else None
        message = None
        if result == "Failed":
            message = error_line(
                f"{error.get('error')}: {error.get('message')}" if error else "the run ended with an error", secrets=keys
            )
        found.setdefault(uid, []).append(ObservedRun(
            key=str(thread["thread_id"]), result=result, start=start,
            finish=None if result == "Running" else _time(thread.get("updated_at")),
            thread_id=str(thread["thread_id"]), error=message,
        ))
    return found


def run_from_raw(run: Mapping[str, Any]) -> ObservedRun | None:
    """One run as the server returns it (GET /threads/{id}/runs)."""
    result = _RUN_RESULTS.get(str(run.get("status")))
    start = _time(run.get("created_at"))
    if result is None or start is None:
        return None
    return ObservedRun(
        key=str(run["run_id"]), result=result, start=start,
        finish=None if result == "Running" else _time(run.get("updated_at")),
        run_id=str(run["run_id"]), thread_id=str(run.get("thread_id") or ""),
        error=f"the run ended with status {run.get('status')}" if result in ("Failed", "TimedOut") else None,
    )


def runs_from_thread_runs(runs: Iterable[Mapping[str, Any]], uid: str) -> list[ObservedRun]:
    """A thread cron's runs on its thread: only those the cron made (its uid in their metadata)."""
    found = (run_from_raw(run) for run in runs if (run.get("metadata") or {}).get(UID_KEY) == uid)
    return [run for run in found if run is not None]


def runs_from_jobs(jobs: Iterable[Mapping[str, Any]]) -> list[ObservedRun]:
    """The cronJob backend's Jobs as runs (a Job stopped by activeDeadlineSeconds timed out)."""
    found = []
    for job in jobs:
        status = job.get("status") or {}
        meta = job["metadata"]
        start = _time(status.get("startTime") or meta.get("creationTimestamp"))
        if start is None:
            continue
        done = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
        failed = done.get("Failed") or done.get("FailureTarget")
        if "Complete" in done or "SuccessCriteriaMet" in done:
            result: RunResult = "Succeeded"
        elif failed is not None:
            result = "TimedOut" if failed.get("reason") == "DeadlineExceeded" else "Failed"
        else:
            result = "Running"
        finish = _time(status.get("completionTime") or (failed or {}).get("lastTransitionTime"))
        found.append(ObservedRun(
            key=meta["name"], result=result, start=start, finish=None if result == "Running" else finish,
            job_name=meta["name"],
            error=error_line((failed or {}).get("message") or (failed or {}).get("reason")) if failed else None,
        ))
    return found


# ---------------------------------------------------------------- folding into status


@dataclass
class HistoryUpdate:
    status: LangGraphCronStatus
    counted: list[ObservedRun] = field(default_factory=list)  # newly counted, oldest first
    events: list[EventRecord] = field(default_factory=list)
    prune: list[ObservedRun] = field(default_factory=list)  # finished runs beyond the limits


def _describe(run: ObservedRun) -> str:
    return f"run {run.run_id}" if run.run_id else f"Job {run.job_name}" if run.job_name else f"thread {run.thread_id}"


def fold(previous: LangGraphCronStatus, runs: list[ObservedRun], *, now: datetime,
         limits: RunHistoryOptions | None = None, generation: int | None = None,
         timed_out: Iterable[str] = ()) -> HistoryUpdate:
    """The status after observing `runs` (everything the backend keeps now), counting each run once.

    `limits`: prune finished runs beyond them (stateless crons' kept threads only). `timed_out`: runs
    just cancelled for spec.runTimeoutSeconds; they (and those of earlier passes, kept in status) are
    TimedOut whatever the server says of them afterwards.
    """
    cancelled = set(timed_out) | set((previous.runs.timed_out if previous.runs else None) or [])
    runs = [_as_timed_out(r, now) if r.key in cancelled and r.result != "TimedOut" else r for r in runs]
    counters = previous.runs or RunCounters()
    until = _time((counters.cursor or RunCursor()).time)
    finished = [r for r in runs if r.result != "Running"]
    active = sorted((r for r in runs if r.result == "Running"), key=lambda r: r.start)
    new = uncounted(previous, runs)

    succeeded, failed, streak = counters.succeeded, counters.failed, counters.consecutive_failures
    events: list[EventRecord] = []
    for run in new:
        if run.failed:
            failed += 1
            streak += 1
            verb = "timed out" if run.result == "TimedOut" else "failed"
            events.append(EventRecord("Warning", "RunFailed", f"{_describe(run)} {verb}: {run.error or run.result}"))
        else:
            if streak:
                events.append(EventRecord("Normal", "RunSucceeded", f"{_describe(run)} succeeded after {streak} failed run(s)"))
            succeeded += 1
            streak = 0

    # Move the cursor up to (not past) the oldest run still going: it is counted when it ends. Runs
    # at or after the cursor's time stay listed: start times can tie (Kubernetes stamps whole seconds).
    oldest_active = active[0].start if active else None
    settled = [r.start for r in finished if oldest_active is None or r.start < oldest_active]
    new_until = max([t for t in (until, *settled) if t is not None], default=None)
    after = sorted({r.key for r in finished if new_until is None or r.start >= new_until})
    new_cursor = RunCursor(time=_iso(new_until), counted=after or None)

    status = previous.model_copy(deep=True)
    still_kept = sorted(cancelled & {r.key for r in runs})
    newest_failure = max((r for r in finished if r.failed), key=lambda r: (r.start, r.key), default=None)
    status.runs = RunCounters(succeeded=succeeded, failed=failed, consecutive_failures=streak, cursor=new_cursor,
                              remaining=counters.remaining, timed_out=still_kept or None,
                              last_error=(newest_failure.error or newest_failure.result) if newest_failure
                              else counters.last_error)
    newest = max(runs, key=lambda r: (r.start, r.key), default=None)
    if newest is not None:
        status.last_run = LastRun(
            run_id=newest.run_id, thread_id=newest.thread_id, job_name=newest.job_name, result=newest.result,
            start_time=_iso(newest.start), completion_time=_iso(newest.finish), error=newest.error,
        )
        status.last_schedule_time = _latest(previous.last_schedule_time, newest.start)
    for run in new:
        if run.failed:
            status.last_failure_time = _latest(status.last_failure_time, run.finish or run.start)
        else:
            status.last_successful_time = _latest(status.last_successful_time, run.finish or run.start)
    status.active_runs = [
        ActiveRun(run_id=r.run_id, thread_id=r.thread_id, job_name=r.job_name, start_time=_iso(r.start)) for r in active
    ] or None
    newest_finished = max(finished, key=lambda r: (r.start, r.key), default=None)
    status.conditions = with_condition(status.conditions, last_run_condition(newest_finished, streak, generation), now)
    prune = _beyond_limits(finished, limits) if limits is not None else []
    return HistoryUpdate(status=status, counted=new, events=events, prune=prune)


def uncounted(previous: LangGraphCronStatus, runs: Iterable[ObservedRun]) -> list[ObservedRun]:
    """The finished runs the status' cursor has not counted yet, oldest first."""
    cursor = (previous.runs.cursor if previous.runs else None) or RunCursor()
    until, already = _time(cursor.time), set(cursor.counted or [])
    return sorted((r for r in runs if r.result != "Running" and (until is None or r.start >= until)
                   and r.key not in already), key=lambda r: (r.start, r.key))


def with_error(run: ObservedRun, thread: Mapping[str, Any], *, secrets: Iterable[str] = ()) -> ObservedRun:
    """A failed stateless run with its error line, from its thread (`error: {error, message}`)."""
    error = thread.get("error") if isinstance(thread.get("error"), Mapping) else None
    if not error:
        return run
    line = error_line(f"{error.get('error')}: {error.get('message')}", secrets=secrets)
    return ObservedRun(**{**run.__dict__, "error": line})


def _as_timed_out(run: ObservedRun, now: datetime) -> ObservedRun:
    return ObservedRun(**{**run.__dict__, "result": "TimedOut", "finish": run.finish or now,
                          "error": "cancelled: it ran longer than spec.runTimeoutSeconds"})


def _beyond_limits(finished: list[ObservedRun], limits: RunHistoryOptions) -> list[ObservedRun]:
    kept_ok = kept_failed = 0
    prune = []
    for run in sorted(finished, key=lambda r: (r.start, r.key), reverse=True):
        if run.failed:
            kept_failed += 1
            if kept_failed > limits.failed_runs_limit:
                prune.append(run)
        else:
            kept_ok += 1
            if kept_ok > limits.successful_runs_limit:
                prune.append(run)
    return prune


def last_run_condition(newest_finished: ObservedRun | None, streak: int, generation: int | None) -> Condition:
    if newest_finished is None:
        return Condition(type=LAST_RUN_CONDITION, status="Unknown", reason="NoRunsYet",
                         message="no finished run observed yet", observed_generation=generation)
    if newest_finished.failed:
        return Condition(type=LAST_RUN_CONDITION, status="False", reason=newest_finished.result,
                         message=f"{streak} run(s) in a row failed; last: {newest_finished.error or newest_finished.result}",
                         observed_generation=generation)
    return Condition(type=LAST_RUN_CONDITION, status="True", reason="Succeeded",
                     message=f"{_describe(newest_finished)} succeeded", observed_generation=generation)


def history_unavailable(why: str, generation: int | None) -> Condition:
    return Condition(type=LAST_RUN_CONDITION, status="Unknown", reason="HistoryUnavailable", message=why,
                     observed_generation=generation)


def with_condition(conditions: list[Condition], wanted: Condition, now: datetime) -> list[Condition]:
    """`conditions` with `wanted` in place of its type; lastTransitionTime moves only on a status flip."""
    old = next((c for c in conditions if c.type == wanted.type), None)
    same = old is not None and old.status == wanted.status and old.last_transition_time
    wanted = wanted.model_copy(update={"last_transition_time": old.last_transition_time if same else format_time(now)})
    return [c for c in conditions if c.type != wanted.type] + [wanted]


def availability_condition(spec: LangGraphCronSpec, status: LangGraphCronStatus, generation: int | None) -> Condition:
    """LastRunSucceeded as a reconcile leaves it: HistoryUnavailable (and why), or as runs last showed."""
    why = unavailable_reason(spec)
    if why is not None:
        return history_unavailable(why, generation)
    current = status.condition(LAST_RUN_CONDITION)
    if current is not None and current.reason != "HistoryUnavailable":
        return current
    return Condition(type=LAST_RUN_CONDITION, status="Unknown", reason="NoRunsYet",
                     message="no finished run observed yet", observed_generation=generation)


def unavailable_reason(spec: LangGraphCronSpec) -> str | None:
    """Why this spec has no run history, or None when it has one."""
    if not spec.history.enabled:
        return "spec.runHistory keeps no runs (both limits are 0)"
    if spec.thread_id is None and spec.on_run_completed == "delete":
        return ("spec.onRunCompleted: delete makes the server delete each run's thread, so no run stays "
                "observable; remove it (the operator keeps and prunes the threads itself) to get a run history")
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _latest(previous: str | None, moment: datetime) -> str:
    before = _time(previous)
    return _iso(moment if before is None or moment > before else before) or ""


def ticks_between(spec: LangGraphCronSpec, since: datetime, until: datetime) -> bool:
    """Whether the schedule fires in (since, until]: a run may have happened."""
    from langgraph_cron.core.schedule import upcoming_runs

    nxt = upcoming_runs(spec.schedule, spec.timezone, since, count=1)
    return bool(nxt) and nxt[0] <= until


# ---------------------------------------------------------------- the fields history owns in status

HISTORY_FIELDS = ("runs", "last_run", "active_runs", "last_schedule_time", "last_successful_time", "last_failure_time",
                  # What runcontrol keeps there too: a stale body must not pause twice or lose a resume.
                  "paused", "last_resume", "last_trigger")


def history_part(status: LangGraphCronStatus) -> dict[str, Any]:
    """The history fields of a status, and its LastRunSucceeded condition (what `HistoryMemory` keeps)."""
    part = {name: getattr(status, name) for name in HISTORY_FIELDS}
    part["condition"] = status.condition(LAST_RUN_CONDITION)
    return part


def with_history_part(status: LangGraphCronStatus, part: dict[str, Any]) -> LangGraphCronStatus:
    """`status` with a remembered history part laid over it (engine/memory.py keeps one per cron): the
    history this process last computed is newer than a body the watch has not delivered yet. Counters
    and cursor move together, so after a restart (no memory) the status' own cursor fits its counts."""
    merged = status.model_copy(update={k: v for k, v in part.items() if k != "condition"})
    if part["condition"] is not None:
        merged.conditions = [c for c in status.conditions if c.type != LAST_RUN_CONDITION] + [part["condition"]]
    return merged


def kept_history_part(status: LangGraphCronStatus) -> dict[str, Any] | None:
    """The history part worth remembering, or None when nothing is counted yet: a stale body cannot
    count anything twice then (most crons of a large cluster, most of the time: no memory per cron)."""
    part = history_part(status)
    condition = part["condition"]
    if all(part[name] is None for name in HISTORY_FIELDS) and (
            condition is None or condition.reason in ("NoRunsYet", "HistoryUnavailable")):
        return None
    return part
