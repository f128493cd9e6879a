"""runcontrol: pause on failure, resume, run budgets and trigger refusals as pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime

from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.runcontrol import (
    RESUME_ANNOTATION,
    TRIGGER_ANNOTATION,
    apply_controls,
    pending_trigger,
    trigger_refusal,
)
from langgraph_cron.core.spec import parse_spec

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def spec(**fields):
    return parse_spec({"schedule": "0 9 * * *", "assistantId": "agent", **fields})


def status(**fields) -> LangGraphCronStatus:
    return LangGraphCronStatus.model_validate(fields)


PAUSING = spec(failurePolicy={"pauseAfterConsecutiveFailures": 2})


def test_pauses_at_the_limit_once_and_stays_paused():
    below = apply_controls(PAUSING, status(runs={"failed": 1, "consecutiveFailures": 1}), generation=1,
                           annotations={}, now=NOW)
    assert below.stopped is None and below.status.paused is None
    at = apply_controls(PAUSING, status(runs={"failed": 2, "consecutiveFailures": 2, "lastError": "EchoFailed: x"}),
                        generation=1, annotations={}, now=NOW)
    assert at.stopped.reason == "PausedAfterFailures" and at.stopped.kind == "stalled" and at.newly_stopped
    assert "2 failed runs in a row" in at.stopped.message and "EchoFailed: x" in at.stopped.message
    assert [e.reason for e in at.events] == ["PausedAfterFailures"]
    again = apply_controls(PAUSING, at.status, generation=1, annotations={}, now=NOW)
    assert again.stopped is not None and again.events == [] and not again.newly_stopped


def test_resumes_only_on_a_new_generation_or_a_new_resume_value():
    paused = apply_controls(PAUSING, status(runs={"failed": 2, "consecutiveFailures": 2}), generation=1,
                            annotations={RESUME_ANNOTATION: "old"}, now=NOW).status
    assert paused.paused is not None and paused.last_resume == "old"
    # The value seen before the pause does not resume it.
    assert apply_controls(PAUSING, paused, generation=1, annotations={RESUME_ANNOTATION: "old"}, now=NOW).stopped
    resumed = apply_controls(PAUSING, paused, generation=1, annotations={RESUME_ANNOTATION: "new"}, now=NOW)
    assert resumed.stopped is None and resumed.status.paused is None and resumed.status.runs.consecutive_failures == 0
    assert [e.reason for e in resumed.events] == ["Resumed"]
    by_spec = apply_controls(PAUSING, paused, generation=2, annotations={}, now=NOW)
    assert by_spec.stopped is None and "the spec changed" in by_spec.events[0].message


def test_a_budget_counts_every_run_and_raising_it_re_enables():
    used = status(runs={"succeeded": 2, "failed": 1})
    spent = apply_controls(spec(maxRuns=3), used, generation=1, annotations={}, now=NOW)
    assert spent.stopped.reason == "RunBudgetExhausted" and spent.stopped.kind == "ready"
    assert spent.status.runs.remaining == 0 and [e.reason for e in spent.events] == ["RunBudgetExhausted"]
    raised = apply_controls(spec(maxRuns=5), spent.status, generation=2, annotations={}, now=NOW)
    assert raised.stopped is None and raised.status.runs.remaining == 2
    assert apply_controls(spec(), used, generation=1, annotations={}, now=NOW).status.runs.remaining is None


def test_triggers_are_handled_once_and_refused_when_the_cron_may_not_run():
    assert pending_trigger({TRIGGER_ANNOTATION: "v1"}, status()) == "v1"
    assert pending_trigger({TRIGGER_ANNOTATION: "v1"}, status(lastTrigger={"value": "v1"})) is None
    assert pending_trigger({}, status()) is None
    assert trigger_refusal(spec(), None, NOW) is None
    assert "suspended" in trigger_refusal(spec(enabled=False), None, NOW)
    assert "expired" in trigger_refusal(spec(endTime="2020-01-01T00:00:00Z"), None, NOW)
    stopped = apply_controls(spec(maxRuns=1), status(runs={"succeeded": 1}), generation=1, annotations={}, now=NOW)
    assert "RunBudgetExhausted" in trigger_refusal(spec(maxRuns=1), stopped.stopped, NOW)


# ---------------------------------------------------------------- a start or a takeover: settled by its status


def _settled_status(**changes):
    from langgraph_cron.core.models import Condition, LangGraphCronStatus

    status = LangGraphCronStatus(observed_generation=3, cron_id="c-1", conditions=[
        Condition(type="Ready", status="True", reason="Scheduled")])
    return status.model_copy(update=changes)


def test_a_resource_in_sync_by_its_status_is_left_to_the_first_pass():
    from langgraph_cron.core.runcontrol import settled_by_its_status

    assert settled_by_its_status(_settled_status(), 3, {})


def test_anything_pending_or_unfinished_is_reconciled_on_its_own():
    from langgraph_cron.core.models import Condition, TriggerState
    from langgraph_cron.core.runcontrol import RESUME_ANNOTATION, TRIGGER_ANNOTATION, settled_by_its_status

    assert not settled_by_its_status(_settled_status(), 4, {})  # a spec change it has not seen
    assert not settled_by_its_status(_settled_status(cron_id=None, create_sent=True), 3, {})  # a create in doubt
    failing = _settled_status(conditions=[Condition(type="Ready", status="False", reason="ServerUnavailable")])
    assert not settled_by_its_status(failing, 3, {})
    assert not settled_by_its_status(_settled_status(), 3, {TRIGGER_ANNOTATION: "now"})
    handled = _settled_status(last_trigger=TriggerState(value="now"))
    assert settled_by_its_status(handled, 3, {TRIGGER_ANNOTATION: "now"})
    assert not settled_by_its_status(_settled_status(), 3, {RESUME_ANNOTATION: "please"})
    assert settled_by_its_status(_settled_status(last_resume="please"), 3, {RESUME_ANNOTATION: "please"})
