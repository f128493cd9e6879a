"""Cron expressions: validation and upcoming run times in a timezone.

The Agent Server validates schedules with `croniter.is_valid` and computes the next run with
croniter in the cron's timezone; using the same library here means the operator rejects exactly
what the server would, before any request, and predicts the same run times.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

# ---------------------------------------------------------------- spread schedules (Jenkins' H)

# Field positions in both five- and six-field forms (croniter's seconds field comes last).
_FIELD_NAMES = ["minute", "hour", "day-of-month", "month", "day-of-week", "seconds"]
_SPREAD_BOUNDS = {0: (0, 59), 1: (0, 23)}  # H is allowed in the minute and hour fields only
_SPREAD = re.compile(r"^H(?:\((\d+)-(\d+)\))?(?:/(\d+))?$")


def _is_spread(element: str) -> bool:
    # A list element starting with H: "H", "H/15", "H(0-29)/10". Day names such as THU contain an H,
    # but no month or day name starts with one (core/rules.py's CEL rule reads H the same way).
    return element.startswith("H")


def has_spread(expression: str) -> bool:
    return "H" in expression and not expression.startswith("@") and any(
        _is_spread(element) for field in expression.split() for element in field.split(",")
    )


def expand_spread(expression: str, seed: str) -> str:
    """`expression` with each H in the minute or hour field replaced by a value derived from a stable
    hash of `seed` (namespace/name): H, H/STEP, H(A-B) and H(A-B)/STEP, as Jenkins spreads jobs. The
    same seed gives the same schedule on every operator and across restarts. ValueError names the
    field of an H anywhere else."""
    if not has_spread(expression):
        return expression
    fields = expression.split()
    for index, field in enumerate(fields):
        if not any(_is_spread(element) for element in field.split(",")):
            continue
        name = _FIELD_NAMES[index] if index < len(_FIELD_NAMES) else f"field {index + 1}"
        if index not in _SPREAD_BOUNDS:
            raise ValueError(f"H is allowed only in the minute and hour fields, not in the {name} field ({field!r})")
        fields[index] = ",".join(_spread(part, seed, index, name) for part in field.split(","))
    return " ".join(fields)


def _spread(part: str, seed: str, index: int, name: str) -> str:
    if not _is_spread(part):
        return part
    match = _SPREAD.match(part)
    if match is None:
        raise ValueError(f"{part!r} in the {name} field: use H, H/STEP, H(A-B) or H(A-B)/STEP")
    low, high = _SPREAD_BOUNDS[index]
    if match[1] is not None:
        low, high = int(match[1]), int(match[2])
        bounds = _SPREAD_BOUNDS[index]
        if not bounds[0] <= low <= high <= bounds[1]:
            raise ValueError(f"{part!r} in the {name} field: the range must lie within {bounds[0]}-{bounds[1]}")
    # A hash of its own per field: the minute and the hour of one resource vary independently.
    value = int.from_bytes(hashlib.sha256(f"{seed}#{index}".encode()).digest()[:8], "big")
    if match[3] is not None:
        step = int(match[3])
        if step < 1:
            raise ValueError(f"{part!r} in the {name} field: the step must be at least 1")
        return f"{low + value % min(step, high - low + 1)}-{high}/{step}"
    return str(low + value % (high - low + 1))


def validate_schedule(expression: str) -> None:
    """Raise ValueError with a user-facing reason when the Agent Server would not accept `expression`
    (H fields are checked for their form, then as any value they can take)."""
    if has_spread(expression):
        expression = expand_spread(expression, "validation")
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
            else _culprit_fields(expression) or "a field is out of range or malformed"
        )
        return f"invalid cron expression {expression!r}: {hint}"
    # is_valid accepts dates that never exist ("0 0 31 2 *"): such a cron would sit forever unfired.
    try:
        croniter(expression, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        return f"cron expression {expression!r} never fires (no matching date)"
    return None


# What each field allows, by position (croniter's seconds field comes last), for the error message.
_FIELD_RANGES = ["0-59", "0-23", "1-31", "1-12 or JAN-DEC", "0-7 or SUN-SAT", "0-59"]


def _culprit_fields(expression: str) -> str | None:
    """"the minute field '61' is out of range or malformed (0-59)" for each field croniter refuses on
    its own (the others set to *); None when no field alone is wrong, or the expression is no 5 or 6
    fields (then the generic reason stays)."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        return None
    culprits = [
        f"the {_FIELD_NAMES[index]} field {field!r} is out of range or malformed ({_FIELD_RANGES[index]})"
        for index, field in enumerate(fields)
        if not croniter.is_valid(" ".join(field if i == index else "*" for i in range(len(fields))))
    ]
    return ", and ".join(culprits) or None


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
