"""history.fold: each run counted exactly once, whatever order passes, restarts and overlaps come in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langgraph_cron.core.history import (
    ObservedRun,
    error_line,
    fold,
    runs_from_thread_runs,
    runs_from_threads,
)
from langgraph_cron.core.models import LangGraphCronStatus, RunHistoryOptions

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)


def run(minute: int, result: str = "Succeeded", error: str | None = None) -> ObservedRun:
    start = T0 + timedelta(minutes=minute)
    return ObservedRun(key=f"t{minute:02d}", result=result, start=start, thread_id=f"t{minute:02d}",
                       finish=None if result == "Running" else start + timedelta(seconds=5), error=error)


def counters(status: LangGraphCronStatus) -> tuple[int, int, int]:
    return status.runs.succeeded, status.runs.failed, status.runs.consecutive_failures


def test_runs_are_counted_once_across_passes_and_restarts():
    first = fold(LangGraphCronStatus(), [run(0), run(1, "Failed", "boom")], now=NOW)
    assert counters(first.status) == (1, 1, 1)
    # The same runs again (a resync), and after a restart (the status as written is all there is).
    again = fold(first.status, [run(0), run(1, "Failed", "boom")], now=NOW)
    assert counters(again.status) == (1, 1, 1) and again.counted == [] and again.events == []
    restored = LangGraphCronStatus.model_validate(first.status.model_dump(by_alias=True, mode="json"))
    assert counters(fold(restored, [run(0), run(1, "Failed", "boom"), run(2)], now=NOW).status) == (2, 1, 0)


def test_a_run_still_going_is_counted_when_it_ends_even_after_newer_runs_were_counted():
    going = fold(LangGraphCronStatus(), [run(0, "Running"), run(1), run(2, "Failed")], now=NOW)
    assert counters(going.status) == (1, 1, 1)
    assert [a.thread_id for a in going.status.active_runs] == ["t00"]
    assert going.status.runs.cursor.time is None and going.status.runs.cursor.counted == ["t01", "t02"]
    assert going.status.last_run.result == "Failed" and going.status.last_run.thread_id == "t02"
    ended = fold(going.status, [run(0), run(1), run(2, "Failed")], now=NOW)
    assert counters(ended.status) == (2, 1, 0)  # a success that ends last ends the failure streak
    assert ended.status.active_runs is None
    assert ended.status.runs.cursor.time == "2026-12-02T09:02:00Z" and ended.status.runs.cursor.counted == ["t02"]
    # Pruned threads disappear from later looks: nothing is recounted, nothing lost.
    assert counters(fold(ended.status, [run(2, "Failed")], now=NOW).status) == (2, 1, 0)


def test_events_a_warning_per_failure_and_a_recovery_note_once():
    failing = fold(LangGraphCronStatus(), [run(0, "Failed", "BoomError: boom"), run(1, "TimedOut")], now=NOW)
    assert [(e.type, e.reason) for e in failing.events] == [("Warning", "RunFailed"), ("Warning", "RunFailed")]
    assert "BoomError: boom" in failing.events[0].message and "timed out" in failing.events[1].message
    recovered = fold(failing.status, [run(0, "Failed"), run(1, "TimedOut"), run(2), run(3)], now=NOW)
    assert [(e.type, e.reason) for e in recovered.events] == [("Normal", "RunSucceeded")]
    assert "after 2 failed run(s)" in recovered.events[0].message


def test_last_run_condition_and_times():
    update = fold(LangGraphCronStatus(), [run(0), run(5, "Failed", "BoomError: boom")], now=NOW)
    condition = update.status.condition("LastRunSucceeded")
    assert (condition.status, condition.reason) == ("False", "Failed") and "BoomError: boom" in condition.message
    assert update.status.last_successful_time == "2026-12-02T09:00:05Z"
    assert update.status.last_failure_time == "2026-12-02T09:05:05Z"
    assert update.status.last_schedule_time == "2026-12-02T09:05:00Z"
    healed = fold(update.status, [run(0), run(5, "Failed"), run(6)], now=NOW)
    assert healed.status.condition("LastRunSucceeded").status == "True"
    assert healed.status.condition("LastRunSucceeded").last_transition_time == "2026-12-02T10:00:00Z"
    assert fold(LangGraphCronStatus(), [], now=NOW).status.condition("LastRunSucceeded").reason == "NoRunsYet"


def test_pruning_keeps_exactly_the_limits_newest_first():
    runs = [run(m, "Failed" if m % 3 == 0 else "Succeeded") for m in range(10)]  # failed: 0, 3, 6, 9
    update = fold(LangGraphCronStatus(), runs, now=NOW, limits=RunHistoryOptions(successful_runs_limit=3, failed_runs_limit=1))
    kept = {r.key for r in runs} - {r.key for r in update.prune}
    assert kept == {"t09", "t08", "t07", "t05"}
    assert all(r.result != "Running" for r in update.prune)
    assert fold(LangGraphCronStatus(), [run(0, "Running")], now=NOW,
                limits=RunHistoryOptions(successful_runs_limit=0, failed_runs_limit=0)).prune == []


def test_threads_and_thread_runs_become_runs():
    threads = [
        {"thread_id": "a", "status": "idle", "metadata": {"lgcron.io/uid": "u1"}, "created_at": "2026-12-02T09:00:00+00:00",
         "updated_at": "2026-12-02T09:00:03+00:00"},
        {"thread_id": "b", "status": "error", "metadata": {"lgcron.io/uid": "u1"}, "created_at": "2026-12-02T09:01:00+00:00",
         "updated_at": "2026-12-02T09:01:02+00:00", "error": {"error": "BoomError", "message": "boom: sk-secret\nmore"}},
        {"thread_id": "c", "status": "busy", "metadata": {"lgcron.io/uid": "u2"}, "created_at": "2026-12-02T09:02:00+00:00"},
        {"thread_id": "d", "status": "idle", "metadata": {}, "created_at": "2026-12-02T09:02:00+00:00"},  # not a cron's
    ]
    found = runs_from_threads(threads, secrets=["sk-secret"])
    assert set(found) == {"u1", "u2"}
    assert [(r.key, r.result) for r in found["u1"]] == [("a", "Succeeded"), ("b", "Failed")]
    assert found["u1"][1].error == "BoomError: boom: ***"
    assert found["u2"][0].result == "Running" and found["u2"][0].finish is None
    runs = [
        {"run_id": "r1", "thread_id": "T", "status": "success", "metadata": {"lgcron.io/uid": "u1"},
         "created_at": "2026-12-02T09:00:00+00:00", "updated_at": "2026-12-02T09:00:01+00:00"},
        {"run_id": "r2", "thread_id": "T", "status": "timeout", "metadata": {"lgcron.io/uid": "u1"},
         "created_at": "2026-12-02T09:01:00+00:00", "updated_at": "2026-12-02T09:01:01+00:00"},
        {"run_id": "r3", "thread_id": "T", "status": "success", "metadata": {},  # the user's own run on the thread
         "created_at": "2026-12-02T09:02:00+00:00"},
    ]
    assert [(r.run_id, r.result) for r in runs_from_thread_runs(runs, "u1")] == [("r1", "Succeeded"), ("r2", "TimedOut")]


def test_error_lines_are_one_bounded_line():
    assert error_line("first\nsecond") == "first"
    assert len(error_line("x" * 1000)) == 200
    assert error_line(None) is None


def test_memory_is_newer_than_a_stale_body():
    from langgraph_cron.engine.memory import Memory

    memory = Memory()
    counted = fold(LangGraphCronStatus(), [run(0), run(1)], now=NOW).status
    memory.remember_history("u1", counted)
    stale = LangGraphCronStatus()  # the watch has not delivered the write yet
    assert counters(fold(memory.history_base("u1", stale), [run(0), run(1)], now=NOW).status) == (2, 0, 0)
    assert memory.history_base("other", stale) is stale


def test_runs_starting_in_the_same_second_are_each_counted_once():
    """Kubernetes stamps whole seconds: two Jobs created in one second tie on their start."""
    a = ObservedRun(key="job-a", result="Succeeded", start=T0, finish=T0, job_name="job-a")
    b = ObservedRun(key="job-b", result="Failed", start=T0, finish=T0, job_name="job-b")
    first = fold(LangGraphCronStatus(), [a], now=NOW)
    second = fold(first.status, [a, b], now=NOW)
    assert counters(second.status) == (1, 1, 1) and [r.key for r in second.counted] == ["job-b"]
    assert counters(fold(second.status, [a, b], now=NOW).status) == (1, 1, 1)
