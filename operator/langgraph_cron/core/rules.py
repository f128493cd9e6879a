"""The rules a cluster enforces at `kubectl apply` even while the operator is down: CEL rules in the CRDs.

Each `Rule` is written once and used twice: `crd.py` puts its CEL expression in the CRD
(`x-kubernetes-validations`), and the models run its Python twin (`broken`) when a spec is parsed, so
`lgcron validate`, the admission webhook and reconcile refuse exactly what the apiserver refuses, with
the same sentence. A rule says only what CEL can say exactly (a shape, a field that excludes another);
whatever needs a library (croniter's ranges, the IANA timezone database, the server objects) is the
webhook's and reconcile's job. tests/operator/test_admission.py applies every catalogued case to a real
kube-apiserver to prove that each twin agrees with its CEL expression.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The macros both backends understand (croniter's, and Kubernetes CronJob's minus @every/@reboot).
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MACRO = "^@(" + "|".join(m[1:] for m in MACROS) + ")$"
# Five fields (minute hour day-of-month month day-of-week), or six with croniter's seconds last.
_FIVE_OR_SIX_FIELDS = r"^\s*\S+(\s+\S+){4,5}\s*$"
_FIVE_FIELDS = r"^\s*\S+(\s+\S+){4}\s*$"
# An H spread (H, H/15, H(0-29)) as a list element of the third field or later. Day names such as THU
# contain an H too, but no month or day name starts with one (schedule.py reads H the same way).
_SPREAD_AFTER_HOUR = r"^\s*\S+\s+\S+\s+(\S+\s+)*(\S*,)?H"
# IANA zone names: letters, digits, _ + - in /-separated parts (America/Port-au-Prince, Etc/GMT+5).
_ZONE_SHAPE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
_URL_CREDENTIALS = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@"


def _cel_string(pattern: str) -> str:
    """A regular expression as a single-quoted CEL string literal."""
    return "'" + pattern.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Rule:
    """One CEL rule and its Python twin. `broken(value)` is true exactly when the CEL rule fails for that
    value (the node the rule sits on: a string field, or the whole spec as a pydantic model)."""

    cel: str
    message: str
    broken: Callable[[Any], bool]
    # For a rule on an object: the field the error is reported at, as the apiserver's fieldPath.
    field: str | None = None

    def crd(self) -> dict[str, str]:
        rule = {"rule": self.cel, "message": self.message}
        if self.field:
            rule["fieldPath"] = f".{self.field}"
        return rule

    def problem(self, path: str) -> str:
        """The sentence reconcile, the webhook and `lgcron validate` give: the field, then the message."""
        return f"{path}.{self.field}: {self.message}" if self.field else f"{path}: {self.message}"


def validations(*rules: Rule) -> dict[str, Any]:
    """`json_schema_extra` of a model or field: its rules, for crd.py to copy into the CRD."""
    return {"x-kubernetes-validations": [rule.crd() for rule in rules]}


def broken_rules(rules: tuple[Rule, ...], value: Any, path: str) -> list[str]:
    return [rule.problem(path) for rule in rules if rule.broken(value)]


def _matches(pattern: str) -> Callable[[str], bool]:
    # RE2's `$` (what CEL runs) is the end of the text; Python's also matches before a final newline.
    compiled = re.compile(pattern.replace("$", r"\Z"), re.ASCII)
    return lambda text: compiled.search(text) is not None


# ---------------------------------------------------------------- spec.schedule (a string field)

SCHEDULE_SHAPE = Rule(
    cel=f"self.matches({_cel_string(_MACRO)}) || self.matches({_cel_string(_FIVE_OR_SIX_FIELDS)})",
    message=(
        "use five fields (minute hour day-of-month month day-of-week), a sixth for seconds, "
        "or a macro: " + ", ".join(MACROS)
    ),
    broken=lambda s: not (_matches(_MACRO)(s) or _matches(_FIVE_OR_SIX_FIELDS)(s)),
)
SPREAD_ONLY_IN_MINUTE_AND_HOUR = Rule(
    cel=f"!self.matches({_cel_string(_SPREAD_AFTER_HOUR)})",
    message="H is allowed only in the minute and hour fields",
    broken=_matches(_SPREAD_AFTER_HOUR),
)
SCHEDULE_RULES = (SCHEDULE_SHAPE, SPREAD_ONLY_IN_MINUTE_AND_HOUR)

# ---------------------------------------------------------------- spec.timezone, URLs

TIMEZONE_SHAPE = Rule(
    cel=f"self.matches({_cel_string(_ZONE_SHAPE)})",
    message="not an IANA timezone name such as Europe/Berlin or America/New_York",
    broken=lambda s: not _matches(_ZONE_SHAPE)(s),
)
URL_WITHOUT_CREDENTIALS = Rule(
    cel=f"!self.matches({_cel_string(_URL_CREDENTIALS)})",
    message=(
        "must not carry credentials (user:password@host): it is shown in status and logs; "
        "put the API key in a Secret (apiKeySecretRef)"
    ),
    broken=_matches(_URL_CREDENTIALS),
)
URL_WITHOUT_SPACES = Rule(
    cel=r"!self.matches('\\s')",
    message="contains whitespace",
    broken=_matches(r"\s"),
)
URL_RULES = (URL_WITHOUT_CREDENTIALS, URL_WITHOUT_SPACES)

# ---------------------------------------------------------------- the LangGraphCron spec as a whole

_IS_CRONJOB = "has(self.backend) && self.backend == 'cronJob'"

ONE_WAY_TO_NAME_THE_SERVER = Rule(
    cel="!(has(self.server) && has(self.serverRef))",
    message="mutually exclusive with spec.server: name a server object here, or give an inline server, not both",
    field="serverRef",
    broken=lambda spec: spec.server is not None and spec.server_ref is not None,
)
ON_RUN_COMPLETED_ONLY_STATELESS = Rule(
    cel="!(has(self.threadId) && has(self.onRunCompleted))",
    message="applies only to stateless crons; remove it or remove threadId",
    field="onRunCompleted",
    broken=lambda spec: spec.thread_id is not None and spec.on_run_completed is not None,
)
CRONJOB_OPTIONS_ONLY_FOR_CRONJOB = Rule(
    cel=f"!has(self.cronJob) || ({_IS_CRONJOB})",
    message="used only by the cronJob backend: set backend: cronJob, or remove it",
    field="cronJob",
    broken=lambda spec: spec.cron_job is not None and spec.backend != "cronJob",
)
CRONJOB_SCHEDULE_HAS_MINUTES = Rule(
    cel=(f"!({_IS_CRONJOB}) || self.schedule.matches({_cel_string(_MACRO)}) "
         f"|| self.schedule.matches({_cel_string(_FIVE_FIELDS)})"),
    message=(
        "the cronJob backend takes five fields (Kubernetes CronJobs have minute granularity, no seconds "
        "field) or a macro: " + ", ".join(MACROS)
    ),
    field="schedule",
    broken=lambda spec: spec.backend == "cronJob"
    and not (_matches(_MACRO)(spec.schedule) or _matches(_FIVE_FIELDS)(spec.schedule)),
)
SPEC_RULES = (
    ONE_WAY_TO_NAME_THE_SERVER,
    ON_RUN_COMPLETED_ONLY_STATELESS,
    CRONJOB_OPTIONS_ONLY_FOR_CRONJOB,
    CRONJOB_SCHEDULE_HAS_MINUTES,
)
