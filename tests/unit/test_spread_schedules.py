"""Spread schedules: Jenkins' H in the minute and hour fields, from a stable hash of namespace/name."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from langgraph_cron.core.schedule import expand_spread, validate_schedule
from langgraph_cron.core.spec import InvalidSpec, effective, parse_spec


def test_each_form_stays_in_its_window():
    for i in range(200):
        seed = f"team-{i % 7}/report-{i}"
        minute, hour, *rest = expand_spread("H H(9-17) * * 1-5", seed).split()
        assert 0 <= int(minute) <= 59 and 9 <= int(hour) <= 17 and rest == ["*", "*", "1-5"]
        start, step = expand_spread("H/15 * * * *", seed).split()[0].split("/")
        assert step == "15" and start.endswith("-59") and 0 <= int(start.split("-")[0]) < 15
        start = expand_spread("H(0-29)/10 2 * * *", seed).split()[0]
        assert start.endswith("-29/10") and 0 <= int(start.split("-")[0]) < 10
        assert 0 <= int(expand_spread("H(0-29) 2 * * *", seed).split()[0]) <= 29
        validate_schedule(expand_spread("H H * * *", seed))


def test_1000_names_spread_evenly_over_the_hour_and_the_same_name_always_gets_the_same_minute():
    names = [f"namespace-{i % 10}/agent-{i}" for i in range(1000)]
    minutes = Counter(int(expand_spread("H 9 * * 1-5", name).split()[0]) for name in names)
    assert len(minutes) == 60  # every minute is used
    # 1000 over 60 minutes: about 16.7 each; a hash, not a counter, so allow the spread of chance.
    assert max(minutes.values()) <= 35 and min(minutes.values()) >= 5, minutes
    chi_square = sum((count - 1000 / 60) ** 2 / (1000 / 60) for count in minutes.values())
    assert chi_square < 100, chi_square  # 59 degrees of freedom: p < 0.001 only above ~100
    assert [expand_spread("H 9 * * *", name) for name in names] == [expand_spread("H 9 * * *", n) for n in names]


def test_stable_across_processes_and_operators():
    """No Python hash randomization: another interpreter computes the same minute."""
    code = "from langgraph_cron.core.schedule import expand_spread; print(expand_spread('H H * * *', 'team-a/nightly'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout.strip()
    assert other == expand_spread("H H * * *", "team-a/nightly")


def test_minute_and_hour_vary_independently_and_per_name():
    assert expand_spread("H H * * *", "a/x") != expand_spread("H H * * *", "a/y")
    assert len({expand_spread("H H * * *", f"a/n{i}").split()[1] for i in range(200)}) == 24


@pytest.mark.parametrize("schedule", ["0 9 H * *", "0 9 * H *", "0 9 * * H", "0 9 * * * H", "0 9 * * MON,H"])
def test_an_h_anywhere_else_is_refused_in_the_words_of_the_crd_rule(schedule):
    with pytest.raises(InvalidSpec) as raised:
        parse_spec({"schedule": schedule, "assistantId": "agent"})
    assert str(raised.value) == "spec.schedule: H is allowed only in the minute and hour fields"


@pytest.mark.parametrize("schedule", ["H(50-70) 9 * * *", "Hx 9 * * *", "H/0 9 * * *"])
def test_a_malformed_h_is_invalid_spec_naming_the_field(schedule):
    with pytest.raises(InvalidSpec) as raised:
        parse_spec({"schedule": schedule, "assistantId": "agent"})
    assert str(raised.value).startswith("spec.schedule:") and "the minute field" in str(raised.value)


def test_the_effective_spec_is_what_the_backend_gets():
    spec = parse_spec({"schedule": "H 9 * * 1-5", "assistantId": "agent"})
    spread = effective(spec, "team-a", "nightly")
    assert spread.schedule == expand_spread("H 9 * * 1-5", "team-a/nightly") and "H" not in spread.schedule
    plain = parse_spec({"schedule": "0 9 * * *", "assistantId": "agent"})
    assert effective(plain, "team-a", "nightly") is plain
    cronjob = parse_spec({"schedule": "H H * * *", "assistantId": "agent", "backend": "cronJob"})
    assert "H" not in effective(cronjob, "a", "b").schedule


def test_validate_prints_the_effective_schedule_and_its_next_runs(tmp_path):
    from langgraph_cron.core.files import validate

    path = tmp_path / "spread.yaml"
    path.write_text("apiVersion: lgcron.io/v1alpha1\nkind: LangGraphCron\nmetadata: {name: nightly, namespace: team-a}\n"
                    "spec: {schedule: 'H 9 * * 1-5', assistantId: agent}\n")
    report, errors = validate([path])
    expected = expand_spread("H 9 * * 1-5", "team-a/nightly")
    assert errors == [] and f"effective schedule {expected!r}" in report[0] and "next runs:" in report[0]
    minute = expected.split()[0]
    assert all(f":{int(minute):02d}:00Z" in run for run in report[0].split("next runs: ")[1].split(", "))
