"""Pure reconcile decisions: spec validation, desired payload, diff, conditions and status."""

from datetime import UTC, datetime, timedelta

import pytest
from langgraph_cron.clients.agent_server import Cron
from langgraph_cron.core.models import Condition, LangGraphCronStatus
from langgraph_cron.core.plan import desired_cron, observed_cron, plan_update
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import ASSISTANT_KEY, Identity, InvalidSpec, parse_spec
from langgraph_cron.core.status import (
    Outcome,
    build_conditions,
    build_status,
    status_patch,
)

NOW = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)
IDENTITY = Identity(uid="u-1", namespace="team-a", name="nightly")
THREAD = "0b8e4a53-8f8f-4a55-9b6b-0c4f6f1b8a10"


def spec(**fields):
    return parse_spec({"schedule": "*/5 * * * *", "assistantId": "agent", **fields})


def desired(**fields):
    return desired_cron(spec(**fields), IDENTITY, NOW, forward_end_time=False)


def server_cron(body, *, cron_id="c-1", thread_id=None, assistant_uuid="a-uuid"):
    """What the in-memory server stores for a create body (measured: payload is the body itself)."""
    payload = {**body, "assistant_id": assistant_uuid}
    config = dict(payload.get("config") or {})
    config["configurable"] = {**(config.get("configurable") or {}), "cron_id": cron_id}
    payload["config"] = config
    return Cron(
        cron_id=cron_id,
        assistant_id=assistant_uuid,
        thread_id=thread_id,
        schedule=body["schedule"],
        timezone=body.get("timezone"),
        enabled=body["enabled"],
        payload=payload,
        metadata=body["metadata"],
        on_run_completed=body.get("on_run_completed"),
        next_run_date=NOW + timedelta(minutes=5),
    )


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"schedule": "61 * * * *"}, "spec.schedule: invalid cron expression"),
        ({"schedule": "* * * *"}, "spec.schedule: use five fields (minute hour day-of-month month day-of-week)"),
        ({"schedule": "0 0 31 2 *"}, "spec.schedule: cron expression '0 0 31 2 *' never fires"),
        ({"timezone": "Mars/Olympus"}, "spec.timezone: unknown IANA timezone 'Mars/Olympus'"),
        ({"threadId": "not-a-uuid"}, "spec.threadId: 'not-a-uuid' is not a UUID"),
        ({"multitaskStrategy": "sometimes"}, "spec.multitaskStrategy: Input should be 'reject'"),
        ({"input": "hello"}, "spec.input: Input should be an object or Input should be a valid array"),
        ({"enabled": "false"}, "spec.enabled: Input should be a valid boolean"),
        ({"end_time": "2020-01-01T00:00:00Z"}, "spec.end_time: unknown field; did you mean endTime?"),
        ({"server": {"url": "http://127.0.0.1:99999"}}, "spec.server.url: 'http://127.0.0.1:99999' has an invalid port"),
        ({"metadata": {"lgcron.io/uid": "x"}}, "spec.metadata: keys ['lgcron.io/uid'] are reserved"),
        ({"config": {"recursionLimit": 0}}, "spec.config.recursionLimit: Input should be greater than or equal to 1"),
        ({"surprise": 1}, "spec.surprise: unknown field"),
        ({"backend": "cronJob", "schedule": "*/10 * * * * *"}, "Kubernetes CronJobs have minute granularity"),
        ({"backend": "cronJob", "schedule": "@every 5m"}, "spec.schedule: use five fields"),
        ({"backend": "cronJob", "cronJob": {"concurrencyPolicy": "Sometimes"}}, "spec.cronJob.concurrencyPolicy"),
        ({"threadId": THREAD, "onRunCompleted": "keep"}, "spec.onRunCompleted: applies only to stateless crons"),
        ({"server": {"apiKeySecretRef": {"name": "s"}}}, "spec.server.apiKeySecretRef.key: Field required"),
    ],
)
def test_invalid_spec_names_the_field_and_the_reason(fields, expected):
    with pytest.raises(InvalidSpec) as exc:
        spec(**fields)
    assert expected in str(exc.value)


@pytest.mark.parametrize("url", ["https://ops:hunter2-pw@agents.example.com", "https://hunter2-pw@agents.example.com:99999"])
def test_a_server_url_with_credentials_is_refused_without_quoting_them(url):
    with pytest.raises(InvalidSpec) as exc:
        spec(server={"url": url})
    assert "spec.server.url: must not carry credentials" in str(exc.value)
    assert "hunter2" not in str(exc.value)


def test_an_operator_wide_server_url_with_credentials_is_refused_without_quoting_them():
    with pytest.raises(ValueError) as exc:
        Settings.from_env({"LGCRON_SERVER_URL": "https://ops:hunter2-pw@agents.example.com"})
    assert str(exc.value).startswith("LGCRON_SERVER_URL must not carry credentials")
    assert "hunter2" not in str(exc.value)
    assert Settings.from_env({"LGCRON_SERVER_URL": "https://agents.example.com"}).server_url == "https://agents.example.com"


def test_missing_required_fields_are_named():
    with pytest.raises(InvalidSpec) as exc:
        parse_spec({})
    assert "spec.schedule: Field required" in str(exc.value)
    assert "spec.assistantId: Field required" in str(exc.value)


# ------------------------------------------------------------------ desired payload


def test_desired_payload_maps_camel_case_fields_to_the_server_names():
    body = desired(
        timezone="Europe/Berlin",
        input={"someKey": {"nestedKey": 1}},
        metadata={"teamName": "a"},
        config={"tags": ["t"], "recursionLimit": 5, "configurable": {"modelName": "x"}},
        context={"userId": "u"},
        webhook="https://hooks.example.com/x",
        interruptBefore="*",
        interruptAfter=["node_a"],
        multitaskStrategy="enqueue",
        streamMode=["values", "updates"],
        streamSubgraphs=True,
        streamResumable=False,
        durability="sync",
        onRunCompleted="keep",
    )
    assert body == {
        "schedule": "*/5 * * * *",
        "assistant_id": "agent",
        "timezone": "Europe/Berlin",
        "input": {"someKey": {"nestedKey": 1}},
        "metadata": {
            "teamName": "a",
            "lgcron.io/uid": "u-1",
            "lgcron.io/namespace": "team-a",
            "lgcron.io/name": "nightly",
            ASSISTANT_KEY: "agent",
        },
        "config": {"tags": ["t"], "recursion_limit": 5, "configurable": {"modelName": "x"}},
        "context": {"userId": "u"},
        "webhook": "https://hooks.example.com/x",
        "interrupt_before": "*",
        "interrupt_after": ["node_a"],
        "multitask_strategy": "enqueue",
        "stream_mode": ["values", "updates"],
        "stream_subgraphs": True,
        "stream_resumable": False,
        "durability": "sync",
        "on_run_completed": "keep",
        "enabled": True,
    }


def test_missing_input_is_sent_as_an_empty_object():
    assert desired()["input"] == {}


def test_timezone_defaults_to_utc_so_removing_it_is_a_patch_not_a_replace():
    assert desired()["timezone"] == "UTC"
    plan = plan_update(desired(), observed_cron(server_cron(desired(timezone="Asia/Tokyo"))), thread_id=None)
    assert (plan.action, plan.patch) == ("patch", {"timezone": "UTC"})


def test_thread_cron_carries_no_on_run_completed():
    assert "on_run_completed" not in desired(threadId=THREAD)


def test_run_history_keeps_stateless_threads_unless_the_user_chose_otherwise():
    spec_ = spec

    def on_completion(pruned: bool = True, **spec) -> str:
        return desired_cron(spec_(**spec), IDENTITY, NOW, forward_end_time=False,
                            history_pruned=pruned)["on_run_completed"]

    assert on_completion() == "keep"  # history is on by default: the operator prunes
    assert on_completion(onRunCompleted="delete") == "delete"  # the user's choice stands
    assert on_completion(runHistory={"successfulRunsLimit": 0, "failedRunsLimit": 0}) == "delete"  # history off
    assert on_completion(pruned=False) == "delete"  # nobody prunes (lgcron apply, the cronJob backend)


def test_end_time_is_not_forwarded_by_default_and_expiry_disables():
    future = (NOW + timedelta(days=1)).isoformat()
    past = (NOW - timedelta(seconds=1)).isoformat()
    assert "end_time" not in desired(endTime=future)
    assert desired(endTime=future)["enabled"] is True
    assert desired(endTime=past)["enabled"] is False
    forwarded = desired_cron(spec(endTime=future), IDENTITY, NOW, forward_end_time=True)
    assert forwarded["end_time"].startswith("2026-11-23T10:00:30")


# ------------------------------------------------------------------ diff


def test_unchanged_cron_needs_nothing():
    body = desired(config={"tags": ["a"]}, timezone="UTC")
    assert plan_update(body, observed_cron(server_cron(body)), thread_id=None).action == "noop"


def test_schedule_timezone_input_and_enabled_changes_are_patched_in_place():
    old = desired()
    new = desired(schedule="0 * * * *", timezone="Asia/Tokyo", input={"text": "hi"}, enabled=False)
    plan = plan_update(new, observed_cron(server_cron(old)), thread_id=None)
    assert plan.action == "patch"
    assert plan.patch == {"schedule": "0 * * * *", "timezone": "Asia/Tokyo", "input": {"text": "hi"}, "enabled": False}


def test_added_metadata_key_is_patched_but_a_removed_one_forces_replace():
    old = desired(metadata={"a": 1})
    added = plan_update(desired(metadata={"a": 1, "b": 2}), observed_cron(server_cron(old)), thread_id=None)
    assert added.action == "patch" and added.patch["metadata"]["b"] == 2
    removed = plan_update(desired(), observed_cron(server_cron(old)), thread_id=None)
    assert removed.action == "replace"
    assert "metadata keys ['a'] were removed" in removed.reasons[0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"assistantId": "other-graph"}, "spec.assistantId changed"),
        ({"multitaskStrategy": "reject"}, "spec.multitaskStrategy changed"),
    ],
)
def test_fields_the_server_cannot_patch_force_a_replace(change, reason):
    old = desired()
    plan = plan_update(desired(**change), observed_cron(server_cron(old)), thread_id=None)
    assert plan.action == "replace"
    assert any(reason in r for r in plan.reasons)


def test_a_new_thread_forces_a_replace():
    old = desired(threadId=THREAD)
    other = "5f0c1d4e-0000-4000-8000-000000000000"
    plan = plan_update(desired(threadId=other), observed_cron(server_cron(old, thread_id=THREAD)), thread_id=other)
    assert plan.action == "replace" and "spec.threadId changed" in plan.reasons[0]


def test_removing_a_payload_field_forces_a_replace():
    old = desired(webhook="https://hooks.example.com/x")
    plan = plan_update(desired(), observed_cron(server_cron(old)), thread_id=None)
    assert plan.action == "replace" and "spec.webhook was removed" in plan.reasons[0]


def test_server_injected_cron_id_in_configurable_is_not_drift():
    body = desired(config={"configurable": {"k": "v"}})
    observed = observed_cron(server_cron(body))
    assert observed["config"] == {"configurable": {"k": "v"}}


def test_field_changed_on_the_server_is_patched_back():
    body = desired()
    drifted = server_cron(body).model_copy(update={"schedule": "0 0 * * *", "enabled": False})
    plan = plan_update(body, observed_cron(drifted), thread_id=None)
    assert plan.patch == {"schedule": "*/5 * * * *", "enabled": True}


# ------------------------------------------------------------------ conditions and status


def test_ready_outcome_reasons():
    assert Outcome.ready(spec(), NOW).reason == "Scheduled"
    assert Outcome.ready(spec(enabled=False), NOW).reason == "Suspended"
    assert Outcome.ready(spec(endTime="2020-01-01T00:00:00Z"), NOW).reason == "Expired"


def test_stalled_outcome_sets_ready_false_and_stalled_true():
    conditions = {c.type: c for c in build_conditions(Outcome("InvalidSpec", "spec.x: bad", "stalled"), [], 3, NOW)}
    assert (conditions["Ready"].status, conditions["Ready"].reason) == ("False", "InvalidSpec")
    assert conditions["Stalled"].status == "True"
    assert conditions["Reconciling"].status == "False"
    assert all(c.observed_generation == 3 for c in conditions.values())


def test_retrying_outcome_sets_reconciling_true():
    conditions = {c.type: c for c in build_conditions(Outcome("ServerUnavailable", "down", "retrying"), [], 1, NOW)}
    assert conditions["Ready"].status == "False"
    assert conditions["Reconciling"].status == "True"
    assert conditions["Stalled"].status == "False"


def test_last_transition_time_moves_only_when_status_flips():
    previous = [Condition(type="Ready", status="True", reason="Scheduled", last_transition_time="2026-11-22T09:00:30Z")]
    same = build_conditions(Outcome("Scheduled", "ok", "ready"), previous, 2, NOW)
    assert same[0].last_transition_time == "2026-11-22T09:00:30Z"
    flipped = build_conditions(Outcome("ServerUnavailable", "down", "retrying"), previous, 2, NOW)
    assert flipped[0].last_transition_time == "2026-11-22T10:00:30Z"


def test_status_carries_cron_facts_next_run_and_three_upcoming_runs():
    s = spec(schedule="0 9 * * *", timezone="Europe/Berlin")
    cron = server_cron(desired(schedule="0 9 * * *", timezone="Europe/Berlin"))
    status = build_status(
        LangGraphCronStatus(), outcome=Outcome.ready(s, NOW), generation=4, now=NOW, spec=s, cron=cron, server_url="http://x"
    )
    assert status.cron_id == "c-1" and status.assistant_id == "a-uuid" and status.server_url == "http://x"
    assert status.observed_generation == 4
    assert status.next_run_date == "2026-11-22T10:05:30Z"
    # 09:00 in Berlin is 08:00 UTC in winter.
    assert status.upcoming_runs == ["2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z", "2026-11-25T08:00:00Z"]


def test_suspended_or_expired_status_has_no_next_run():
    for fields in ({"enabled": False}, {"endTime": "2020-01-01T00:00:00Z"}):
        s = spec(**fields)
        status = build_status(
            LangGraphCronStatus(), outcome=Outcome.ready(s, NOW), generation=1, now=NOW, spec=s,
            cron=server_cron(desired(**fields)), server_url="http://x",
        )
        assert status.next_run_date is None and status.upcoming_runs is None


def test_status_patch_is_none_when_only_last_sync_time_changed():
    s = spec()
    cron = server_cron(desired())
    first = build_status(LangGraphCronStatus(), outcome=Outcome.ready(s, NOW), generation=1, now=NOW, spec=s, cron=cron)
    later = NOW + timedelta(seconds=1)
    second = build_status(first, outcome=Outcome.ready(s, later), generation=1, now=later, spec=s, cron=cron)
    assert status_patch(first, second) is None


def test_status_patch_deletes_cleared_fields_with_null():
    old = LangGraphCronStatus(cron_id="c", next_run_date="2026-11-22T10:05:00Z")
    new = LangGraphCronStatus(cron_id="c")
    assert status_patch(old, new) == {"nextRunDate": None}
