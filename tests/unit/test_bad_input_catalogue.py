"""The bad-input catalogue (tests/bad_inputs.py), pure: what the CRD schema does with each case at
`kubectl apply` time, and that parse_spec rejects each invalid one with an InvalidSpec naming the field.

The CRD's openAPIV3Schema is checked with `jsonschema` after translating the Kubernetes-specific
parts: x-kubernetes-preserve-unknown-fields (and undeclared fields, which the apiserver prunes
rather than rejects) and the `uuid`/`date-time` formats as kube-openapi validates them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from langgraph_cron.core import rules
from langgraph_cron.core.connections import parse_server_spec
from langgraph_cron.core.models import MAX_NESTING, MAX_SPEC_BYTES
from langgraph_cron.core.spec import InvalidSpec, parse_spec

from tests.bad_inputs import (
    CASES,
    CASES_BY_NAME,
    SERVER_CASES,
    SERVER_CRD_FILES,
    TABLE_FILE,
    THREAD,
    base_spec,
    catalogue_table,
    crd_openapi_schema,
    crd_schema_verdict,
    spec_fields,
    without_paths,
)

SCHEMA = crd_openapi_schema()
INVALID = [c for c in CASES if c.reason == "InvalidSpec"]
NOT_SPEC_ERRORS = [c for c in CASES if c.reason != "InvalidSpec"]


def _param(case, *, xfail_known: bool = False):
    marks = [pytest.mark.xfail(strict=True, reason=case.known_problem)] if xfail_known and case.model_problem else []
    return pytest.param(case, id=case.name, marks=marks)


# ---------------------------------------------------------------- the catalogue itself


def test_the_catalogue_has_at_least_30_invalid_cases_and_covers_every_spec_field():
    assert len(INVALID) >= 30
    covered = {case.covered_field for case in CASES}
    missing = [name for name in spec_fields(SCHEMA) if name not in covered]
    assert not missing, f"spec fields without a bad-input case in tests/bad_inputs.py: {missing}"
    assert "(unknown)" in covered, "unknown fields need a case too"


def test_every_case_is_consistent():
    for case in CASES:
        assert not (case.model_problem and not case.known_problem), case.name
        assert not (case.schema_rejects and case.schema_prunes), case.name
        assert case.ready == (case.reason in {"Scheduled", "Suspended", "Expired"}), case.name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", case.name), f"{case.name}: not a DNS-1123 label"


def test_the_required_operator_only_kinds_are_in_the_catalogue():
    # What only the operator can catch (its webhook, else reconcile; the CRD accepts it): each kind
    # named by the brief. A thread cron's onRunCompleted and a cronJob seconds field moved to CEL rules.
    for name in ("schedule-out-of-range", "schedule-never-fires", "timezone-unknown", "metadata-reserved-key",
                 "input-over-1mib", "input-nested-too-deep", "timezone-typo", "schedule-minute-61"):
        assert CASES_BY_NAME[name].operator_only, name
    for name in ("thread-with-on-run-completed", "schedule-seconds-on-cronjob", "server-ref-and-inline-server",
                 "schedule-h-in-day-of-month-with-minute"):
        assert CASES_BY_NAME[name].cel_rejects, name


def test_the_bounded_inputs_really_exceed_the_bounds():
    import json

    big = CASES_BY_NAME["input-over-1mib"].spec["input"]
    assert len(json.dumps(big, separators=(",", ":"))) > MAX_SPEC_BYTES
    deep = CASES_BY_NAME["input-nested-too-deep"].spec["input"]
    depth = 0
    while isinstance(deep, dict):
        deep, depth = next(iter(deep.values())), depth + 1
    assert depth > MAX_NESTING


# ---------------------------------------------------------------- the CRD schema (kubectl apply)


def test_the_schema_translation_accepts_a_valid_spec_and_checks_formats():
    assert crd_schema_verdict(base_spec("ok"), SCHEMA).errors == []
    full = {**base_spec("ok"), "threadId": THREAD, "endTime": "2030-01-01T00:00:00Z",
            "input": [{"a": [1, {"b": None}]}], "interruptBefore": "*", "streamMode": ["values"],
            "metadata": {"any": {"thing": [1]}},
            "cronJob": {"podLabels": {"a": "b"}, "resources": {"limits": {"cpu": "1"}}}}
    verdict = crd_schema_verdict(full, SCHEMA)
    assert (verdict.errors, verdict.pruned) == ([], [])
    assert crd_schema_verdict({**base_spec("ok"), "threadId": "nope"}, SCHEMA).rejects
    assert crd_schema_verdict({**base_spec("ok"), "endTime": "nope"}, SCHEMA).rejects
    # Undeclared fields are pruned, not rejected; inside preserve-unknown-fields nothing is pruned.
    verdict = crd_schema_verdict({**base_spec("ok"), "extra": 1, "config": {"x": 1}, "context": {"y": 2}}, SCHEMA)
    assert (verdict.errors, verdict.pruned) == ([], ["extra", "config.x"])


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_the_crd_schema_verdict_is_as_catalogued(case):
    verdict = crd_schema_verdict(case.full_spec(), SCHEMA)
    assert verdict.rejects == case.schema_rejects, (
        f"{case.name}: the CRD schema {'rejects' if verdict.rejects else 'accepts'} it: {verdict.errors}"
    )
    assert tuple(verdict.pruned) == case.schema_prunes
    if case.schema_rejects:
        # The apiserver's 422 names the field the same way the operator does.
        assert any(error.startswith(case.field) for error in verdict.errors), verdict.errors


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.operator_only])
def test_operator_only_cases_pass_the_crd_schema(case):
    """kubectl apply accepts these; only the operator can catch them, so it must."""
    verdict = crd_schema_verdict(case.full_spec(), SCHEMA)
    assert verdict.errors == [] and verdict.pruned == []


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.schema_prunes])
def test_pruned_cases_are_valid_once_the_apiserver_has_pruned_them(case):
    """On a real cluster these become Ready: what is left after pruning is a valid spec."""
    parse_spec(without_paths(case.full_spec(), case.schema_prunes))


# ---------------------------------------------------------------- parse_spec (the operator's local check)


@pytest.mark.parametrize("case", [_param(c, xfail_known=True) for c in INVALID])
def test_parse_spec_rejects_the_case_naming_the_field(case):
    with pytest.raises(InvalidSpec) as raised:
        parse_spec(case.full_spec())
    message = str(raised.value)
    assert raised.value.reason == "InvalidSpec"
    assert case.field in message, message
    assert len(message) < 2000, "the message must not echo the input"


_RULE_MESSAGES = [rule.message for rule in (*rules.SPEC_RULES, *rules.SCHEDULE_RULES, *rules.URL_RULES,
                                            rules.TIMEZONE_SHAPE)]


@pytest.mark.parametrize("case", [_param(c) for c in INVALID if not c.schema_rejects and not c.known_problem])
def test_cel_rejects_is_catalogued_as_the_python_twin_decides(case):
    """A case a CEL rule refuses gets that rule's words from parse_spec; tests/operator/test_admission.py
    proves on a real apiserver that the CEL expression refuses exactly these."""
    with pytest.raises(InvalidSpec) as raised:
        parse_spec(case.full_spec())
    said_by_a_rule = any(message in str(raised.value) for message in _RULE_MESSAGES)
    assert said_by_a_rule == case.cel_rejects, str(raised.value)


def test_every_iana_timezone_passes_the_crd_shape_rule():
    import zoneinfo

    refused = [zone for zone in zoneinfo.available_timezones() if rules.TIMEZONE_SHAPE.broken(zone)]
    assert refused == []


@pytest.mark.parametrize("schedule", ["0 9 * * THU", "0 9 * * MON,THU", "H H(0-5) * * THU", "@hourly",
                                      "*/5 * * * * *", "0 0 1 1 *"])
def test_the_schedule_rules_accept_day_names_and_the_documented_forms(schedule):
    assert not any(rule.broken(schedule) for rule in rules.SCHEDULE_RULES)
    parse_spec({**base_spec("ok"), "schedule": schedule})


@pytest.mark.parametrize(("schedule", "broken"), [
    ("0 9 * *", rules.SCHEDULE_SHAPE), ("0 0 1 1 * 0 2030", rules.SCHEDULE_SHAPE), ("@reboot", rules.SCHEDULE_SHAPE),
    ("0 9 H * *", rules.SPREAD_ONLY_IN_MINUTE_AND_HOUR), ("0 9 * * MON,H", rules.SPREAD_ONLY_IN_MINUTE_AND_HOUR),
    ("0 9 * * * H/10", rules.SPREAD_ONLY_IN_MINUTE_AND_HOUR), ("0 9 * * *\n", None),
])
def test_the_schedule_rules_refuse_what_they_name(schedule, broken):
    found = [rule for rule in rules.SCHEDULE_RULES if rule.broken(schedule)]
    assert found == ([broken] if broken else []) or (broken is None and not found)


@pytest.mark.parametrize("case", [_param(c) for c in NOT_SPEC_ERRORS])
def test_not_a_spec_error_parses(case):
    spec = parse_spec(case.full_spec())
    if case.reason == "Expired":
        assert spec.is_expired(datetime.now(UTC))


# ---------------------------------------------------------------- server objects


@pytest.mark.parametrize("case", SERVER_CASES, ids=[c.name for c in SERVER_CASES])
def test_a_bad_server_object_is_caught_naming_the_field(case):
    """Refused at apply time where the CRD schema can say so; the operator catches the rest (and
    anything a cluster without schema validation lets through) with InvalidSpec naming the field."""
    verdict = crd_schema_verdict(case.spec, crd_openapi_schema(SERVER_CRD_FILES[case.kind]))
    assert verdict.rejects == case.schema_rejects, verdict.errors
    if case.schema_rejects:
        assert any(error.startswith(case.field.removeprefix("spec.").join(["spec.", ""])) or
                   case.field.removeprefix("spec.") in error for error in verdict.errors), verdict.errors
    with pytest.raises(InvalidSpec) as raised:
        parse_server_spec({"kind": case.kind, "metadata": {"name": "s"}, "spec": case.spec})
    assert case.field in str(raised.value), str(raised.value)


def test_the_server_catalogue_covers_every_server_spec_field():
    covered = {re.sub(r"\[\d+\]", "", c.field.removeprefix("spec.")) for c in SERVER_CASES}
    for kind, path in SERVER_CRD_FILES.items():
        top = [f for f in spec_fields(crd_openapi_schema(path)) if "." not in f and f != "caBundle"]
        missing = [f for f in top if not any(c == f or c.startswith(f + ".") for c in covered)]
        assert not missing, f"{kind} fields without a bad-input case: {missing}"


def test_the_catalogue_table_in_docs_is_generated_from_the_catalogue():
    assert TABLE_FILE.read_text() == catalogue_table(), "run: python -m tests.bad_inputs --write"
