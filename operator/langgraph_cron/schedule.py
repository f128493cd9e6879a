"""Cron expressions: validation and upcoming run times in a timezone.

The Agent Server validates schedules with `croniter.is_valid` and computes the next run with
croniter in the cron's timezone; using the same library here means the operator rejects exactly
what the server would, before any request, and predicts the same run times.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter


def validate_schedule(expression: str) -> None:
    """Raise ValueError with a user-facing reason when the Agent Server would not accept `expression`."""
    problem = _schedule_problem(expression)
    if problem is not None:
        raise ValueError(problem)


@functools.lru_cache(maxsize=4096)  # a thousand resources usually share a handful of schedules
def _schedule_problem(expression: str) -> str | None:
    if not croniter.is_valid(expression):
        fields = len(expression.split())
        hint = (
            f"it has {fields} fields; use five (minute hour day-of-month month day-of-week), "
            "a sixth for seconds, or a macro such as @hourly"
            if fields not in (5, 6, 7) and not expression.startswith("@")
            else "a field is out of range or malformed"
        )
        return f"invalid cron expression {expression!r}: {hint}"
    # is_valid accepts dates that never exist ("0 0 31 2 *"): such a cron would sit forever unfired.
    try:
        croniter(expression, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        return f"cron expression {expression!r} never fires (no matching date)"
    return None


# The macros Kubernetes CronJobs understand (robfig/cron descriptors, minus @every and @reboot).
KUBERNETES_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def validate_kubernetes_schedule(expression: str) -> None:
    """Kubernetes CronJobs take five fields or a macro; the Agent Server's seconds field is not allowed."""
    if expression.startswith("@"):
        if expression not in KUBERNETES_MACROS:
            raise ValueError(f"{expression!r} is not a Kubernetes CronJob macro ({', '.join(sorted(KUBERNETES_MACROS))})")
        return
    fields = len(expression.split())
    if fields != 5:
        raise ValueError(
            f"cron expression {expression!r} has {fields} fields; Kubernetes CronJobs have minute granularity "
            "and take exactly five (minute hour day-of-month month day-of-week)"
        )


def upcoming_runs(expression: str, timezone: str | None, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` run times after `after`, evaluated in `timezone` (UTC when None), returned in UTC."""
    # Runs fall on whole seconds, so the runs after `after` are the runs after its whole second:
    # that key lets every resource with the same schedule share one computation within a second.
    return list(_upcoming_runs(expression, timezone, after.astimezone(UTC).replace(microsecond=0), count))


@functools.lru_cache(maxsize=4096)
def _upcoming_runs(expression: str, timezone: str | None, after: datetime, count: int) -> tuple[datetime, ...]:
    zone = ZoneInfo(timezone) if timezone else UTC
    iterator = croniter(expression, after.astimezone(zone))
    return tuple(iterator.get_next(datetime).astimezone(UTC) for _ in range(count))
