"""schedule.py: the cached upcoming-run computation agrees with croniter at any instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from langgraph_cron.clients import metrics
from langgraph_cron.core.schedule import upcoming_runs, validate_schedule


def uncached(expression: str, timezone: str | None, after: datetime) -> list[datetime]:
    iterator = croniter(expression, after.astimezone(ZoneInfo(timezone) if timezone else UTC))
    return [iterator.get_next(datetime).astimezone(UTC) for _ in range(3)]


@pytest.mark.parametrize("expression", ["* * * * * *", "*/7 * * * * *", "*/5 * * * *", "0 9 * * 1", "@hourly"])
@pytest.mark.parametrize("timezone", [None, "Europe/Berlin", "Asia/Kolkata"])
def test_upcoming_runs_match_croniter_at_sub_second_instants(expression, timezone):
    start = datetime(2026, 3, 29, 0, 59, 58, 250_000, tzinfo=UTC)  # spans Berlin's DST change
    for step in range(0, 12):
        after = start + timedelta(milliseconds=370 * step)
        assert upcoming_runs(expression, timezone, after) == uncached(expression, timezone, after), after


def test_a_cached_result_cannot_be_changed_by_a_caller():
    after = datetime(2026, 1, 1, tzinfo=UTC)
    upcoming_runs("@daily", None, after).clear()
    assert len(upcoming_runs("@daily", None, after)) == 3


def test_validation_errors_repeat_from_the_cache():
    for _ in range(2):
        with pytest.raises(ValueError, match="never fires"):
            validate_schedule("0 0 31 2 *")
        with pytest.raises(ValueError, match="it has 4 fields"):
            validate_schedule("* * * *")


def gauge(backend: str, ready: str) -> float:
    return metrics.MANAGED.labels(backend, ready)._value.get()


def test_managed_resources_gauge_follows_each_resource_outcome():
    managed = metrics.ManagedResources()
    assert [gauge(b, r) for b in ("agentServer", "cronJob") for r in ("true", "false")] == [0, 0, 0, 0]
    managed.update("a", "agentServer", True)
    managed.update("b", "agentServer", False)
    managed.update("a", "agentServer", True)  # unchanged
    managed.update("c", "cronJob", True)
    assert (gauge("agentServer", "true"), gauge("agentServer", "false"), gauge("cronJob", "true")) == (1, 1, 1)
    managed.update("b", "cronJob", True)  # a backend switch moves it
    managed.forget("a")
    managed.forget("never-seen")
    assert [gauge(b, r) for b in ("agentServer", "cronJob") for r in ("true", "false")] == [0, 0, 2, 0]


# ---------------------------------------------------------------- which field of an invalid expression


@pytest.mark.parametrize(("expression", "field"), [
    ("61 7 * * *", "the minute field '61' is out of range or malformed (0-59)"),
    ("0 24 * * *", "the hour field '24' is out of range or malformed (0-23)"),
    ("0 7 0 * *", "the day-of-month field '0' is out of range or malformed (1-31)"),
    ("0 7 32 * *", "the day-of-month field '32' is out of range or malformed (1-31)"),
    ("0 7 * 13 *", "the month field '13' is out of range or malformed (1-12 or JAN-DEC)"),
    ("0 7 * FOO *", "the month field 'FOO' is out of range or malformed (1-12 or JAN-DEC)"),
    ("0 7 * * 8", "the day-of-week field '8' is out of range or malformed (0-7 or SUN-SAT)"),
    ("0 7 * * * 60", "the seconds field '60' is out of range or malformed (0-59)"),  # croniter: seconds last
    ("*/0 7 * * *", "the minute field '*/0' is out of range or malformed (0-59)"),
    ("61 25 * * *", ("the minute field '61' is out of range or malformed (0-59), "
                     "and the hour field '25' is out of range or malformed (0-23)")),
])
def test_an_invalid_expression_names_the_field_croniter_refuses_and_its_range(expression, field):
    assert not croniter.is_valid(expression)  # what the Agent Server checks
    with pytest.raises(ValueError) as caught:
        validate_schedule(expression)
    assert str(caught.value) == f"invalid cron expression {expression!r}: {field}"


def test_the_field_count_message_and_the_generic_one_stay():
    with pytest.raises(ValueError, match=r"it has 3 fields; use five \(minute hour day-of-month month day-of-week\)"):
        validate_schedule("1 2 3")
    # Seven fields (croniter's year) name no field of five or six: the generic reason stays.
    assert not croniter.is_valid("0 7 * * * 0 20x")
    with pytest.raises(ValueError, match="a field is out of range or malformed$"):
        validate_schedule("0 7 * * * 0 20x")
