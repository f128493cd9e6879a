"""The cronJob backend's pure parts: the builder's whole output, drift, status mapping."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from langgraph_cron.core.cronjob import (
    InvokerTarget,
    build_cronjob,
    build_cronjob_status,
    cronjob_name,
    cronjob_update,
    is_controlled_by,
)
from langgraph_cron.core.history import fold, runs_from_jobs
from langgraph_cron.core.models import LangGraphCronStatus, SecretKeyRef
from langgraph_cron.core.spec import Identity, InvalidSpec, parse_spec
from langgraph_cron.core.status import Outcome

NOW = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)
IDENTITY = Identity(uid="u-1", namespace="team-a", name="nightly")
TARGET = InvokerTarget(
    server_url="https://lg.example.com", api_key_secret=SecretKeyRef(name="lg-key", key="apiKey"), image="img:1"
)
LABELS = {"app.kubernetes.io/managed-by": "langgraph-cron-operator", "lgcron.io/name": "nightly", "lgcron.io/uid": "u-1"}


def spec(**fields):
    return parse_spec({"schedule": "0 7 * * 1-5", "assistantId": "agent", "backend": "cronJob", **fields})


def build(**fields):
    return build_cronjob(spec(**fields), IDENTITY, TARGET, NOW)


def test_builder_output_for_a_minimal_spec():
    cronjob = build(timezone="Europe/Berlin", input={"text": "hi"})
    request = json.loads(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"])
    assert cronjob == {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "nightly",
            "namespace": "team-a",
            "labels": LABELS,
            "ownerReferences": [
                {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron", "name": "nightly", "uid": "u-1",
                 "controller": True, "blockOwnerDeletion": True}
            ],
        },
        "spec": {
            "schedule": "0 7 * * 1-5",
            "timeZone": "Europe/Berlin",
            "suspend": False,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": LABELS},
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "containers": [
                                {
                                    "name": "invoke",
                                    "image": "img:1",
                                    "args": ["invoke"],
                                    "env": [
                                        {"name": "LGCRON_SERVER_URL", "value": "https://lg.example.com"},
                                        {"name": "LGCRON_RUN_REQUEST", "value": json.dumps(request, sort_keys=True)},
                                        {"name": "LGCRON_JOB_NAME",
                                         "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}},
                                        {"name": "LGCRON_API_KEY",
                                         "valueFrom": {"secretKeyRef": {"name": "lg-key", "key": "apiKey"}}},
                                    ],
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "runAsNonRoot": True,
                                        "capabilities": {"drop": ["ALL"]},
                                        "seccompProfile": {"type": "RuntimeDefault"},
                                    },
                                }
                            ],
                        },
                    },
                },
            },
        },
    }
    assert request["assistant_id"] == "agent" and request["input"] == {"text": "hi"}
    assert request["metadata"]["lgcron.io/uid"] == "u-1"


def test_run_request_is_the_server_cron_payload_plus_the_thread():
    thread = "0b8e4a53-8f8f-4a55-9b6b-0c4f6f1b8a10"
    container = build(threadId=thread, multitaskStrategy="interrupt")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    request = json.loads(container["env"][1]["value"])
    assert request["thread_id"] == thread and request["multitask_strategy"] == "interrupt"
    assert "on_run_completed" not in request


def test_the_api_key_only_ever_arrives_by_secret_key_ref():
    text = json.dumps(build())
    env = build()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    key_env = [e for e in env if e["name"] == "LGCRON_API_KEY"]
    assert key_env == [{"name": "LGCRON_API_KEY", "valueFrom": {"secretKeyRef": {"name": "lg-key", "key": "apiKey"}}}]
    no_key = build_cronjob(spec(), IDENTITY, InvokerTarget("https://x", None, "img"), NOW)
    assert "LGCRON_API_KEY" not in json.dumps(no_key)
    assert '"value": "apiKey"' not in text


def test_overrides_reach_the_cronjob():
    cronjob = build(cronJob={
        "concurrencyPolicy": "Replace", "startingDeadlineSeconds": 60, "successfulJobsHistoryLimit": 5,
        "failedJobsHistoryLimit": 2, "activeDeadlineSeconds": 600, "image": "custom:2", "imagePullPolicy": "Always",
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}, "serviceAccountName": "runner",
        "podLabels": {"team": "a", "lgcron.io/uid": "forged"}, "podAnnotations": {"note": "x"},
    })
    spec_ = cronjob["spec"]
    assert (spec_["concurrencyPolicy"], spec_["startingDeadlineSeconds"]) == ("Replace", 60)
    assert (spec_["successfulJobsHistoryLimit"], spec_["failedJobsHistoryLimit"]) == (5, 2)
    job = spec_["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 600
    pod = job["template"]
    assert pod["metadata"]["labels"] == {"team": "a", **LABELS}, "the owner labels cannot be overridden"
    assert pod["metadata"]["annotations"] == {"note": "x"}
    assert pod["spec"]["serviceAccountName"] == "runner"
    container = pod["spec"]["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == ("custom:2", "Always")
    assert container["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}}


def test_no_timezone_means_utc_not_the_controllers_local_zone():
    assert build()["spec"]["timeZone"] == "Etc/UTC"


@pytest.mark.parametrize(("fields", "suspended"), [
    ({}, False), ({"enabled": False}, True), ({"endTime": "2020-01-01T00:00:00Z"}, True),
    ({"endTime": (NOW + timedelta(days=1)).isoformat()}, False),
])
def test_suspend_when_disabled_or_expired(fields, suspended):
    assert build(**fields)["spec"]["suspend"] is suspended


def test_long_names_are_cut_to_52_with_a_hash():
    long = "a" * 60
    name = cronjob_name(long)
    assert len(name) == 52 and name.startswith("a" * 43 + "-")
    assert name != cronjob_name("a" * 61) and cronjob_name("short") == "short"
    assert len(cronjob_name("b" * 52)) == 52


@pytest.mark.parametrize("schedule", ["*/10 * * * * *", "0 0 * * * 30"])
def test_seconds_schedules_are_rejected_for_cronjobs(schedule):
    with pytest.raises(InvalidSpec) as exc:
        spec(schedule=schedule)
    assert "spec.schedule" in str(exc.value) and "minute granularity" in str(exc.value)


def test_macros_are_accepted_for_cronjobs():
    assert build(schedule="@hourly")["spec"]["schedule"] == "@hourly"


# ------------------------------------------------------------------ drift


def with_server_defaults(cronjob):
    """What a real API server returns: our object plus defaults and bookkeeping."""
    observed = json.loads(json.dumps(cronjob))
    observed["metadata"].update(uid="cj-uid", resourceVersion="7", generation=1)
    observed["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(dnsPolicy="ClusterFirst", schedulerName="default-scheduler")
    observed["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
    observed["status"] = {"lastScheduleTime": "2026-11-22T06:00:00Z"}
    return observed


def test_server_defaults_are_not_drift():
    assert cronjob_update(build(), with_server_defaults(build())) is None


def test_hand_edited_schedule_is_restored():
    observed = with_server_defaults(build())
    observed["spec"]["schedule"] = "* * * * *"
    patch = cronjob_update(build(), observed)
    assert patch["spec"]["schedule"] == "0 7 * * 1-5"


def test_hand_added_env_var_is_drift():
    observed = with_server_defaults(build())
    observed["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "X", "value": "1"})
    assert cronjob_update(build(), observed) is not None


def test_dropped_overrides_are_nulled_in_the_patch():
    before = build(cronJob={"activeDeadlineSeconds": 60, "serviceAccountName": "runner", "podLabels": {"team": "a"}})
    patch = cronjob_update(build(), with_server_defaults(before))
    job = patch["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] is None
    assert job["template"]["spec"]["serviceAccountName"] is None
    assert job["template"]["metadata"]["labels"]["team"] is None
    assert job["template"]["metadata"]["labels"]["lgcron.io/uid"] == "u-1"


def test_ownership_is_by_controller_uid():
    assert is_controlled_by(build(), "u-1")
    assert not is_controlled_by(build(), "someone-else")


# ------------------------------------------------------------------ status


def job(name, created, conditions=(), completion=None):
    status = {"conditions": [{"type": t, "status": "True", "lastTransitionTime": created} for t in conditions]}
    if completion:
        status["completionTime"] = completion
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


def test_jobs_are_runs_and_the_newest_is_the_last_run():
    jobs = [
        job("nightly-1", "2026-11-20T06:00:00Z", ["Complete"], "2026-11-20T06:00:09Z"),
        job("nightly-3", "2026-11-22T06:00:00Z", ["Failed"]),
        job("nightly-2", "2026-11-21T06:00:00Z", ["Complete"], "2026-11-21T06:00:07Z"),
    ]
    update = fold(LangGraphCronStatus(), runs_from_jobs(jobs), now=NOW)
    run = update.status.last_run
    assert (run.job_name, run.result, run.completion_time) == ("nightly-3", "Failed", "2026-11-22T06:00:00Z")
    assert (update.status.runs.succeeded, update.status.runs.failed, update.status.runs.consecutive_failures) == (2, 1, 1)
    assert [r.result for r in runs_from_jobs([job("j", "2026-11-22T06:00:00Z")])] == ["Running"]
    assert runs_from_jobs([]) == []


def test_a_job_stopped_by_its_deadline_timed_out():
    stopped = job("j", "2026-11-22T06:00:00Z")
    stopped["status"]["conditions"] = [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                        "message": "Job was active longer than specified deadline",
                                        "lastTransitionTime": "2026-11-22T06:10:00Z"}]
    [run] = runs_from_jobs([stopped])
    assert (run.result, run.error) == ("TimedOut", "Job was active longer than specified deadline")


def test_cronjob_status_mirrors_the_cronjob_and_clears_server_fields():
    s = spec(timezone="Europe/Berlin")
    previous = LangGraphCronStatus(cron_id="old", server_url="https://old", backend="agentServer")
    observed = with_server_defaults(build(timezone="Europe/Berlin"))
    observed["status"]["lastSuccessfulTime"] = "2026-11-21T06:00:07Z"
    status = build_cronjob_status(previous, outcome=Outcome.ready(s, NOW), generation=2, now=NOW, spec=s,
                                  cronjob=observed)
    assert (status.backend, status.cron_job_name, status.cron_id, status.server_url) == ("cronJob", "nightly", None, None)
    assert status.effective_schedule == s.schedule
    # 07:00 Berlin on weekdays = 06:00 UTC; 2026-11-22 is a Sunday.
    assert status.next_run_date == "2026-11-23T06:00:00Z"
    assert status.upcoming_runs == ["2026-11-23T06:00:00Z", "2026-11-24T06:00:00Z", "2026-11-25T06:00:00Z"]


def test_suspended_cronjob_has_no_upcoming_runs():
    s = spec(enabled=False)
    status = build_cronjob_status(LangGraphCronStatus(), outcome=Outcome.ready(s, NOW), generation=1, now=NOW, spec=s,
                                  cronjob=build(enabled=False))
    assert status.next_run_date is None and status.upcoming_runs is None


def test_run_timeout_is_the_jobs_deadline_unless_the_cronjob_options_set_one():
    deadline = build(runTimeoutSeconds=600)["spec"]["jobTemplate"]["spec"]
    assert deadline["activeDeadlineSeconds"] == 600
    explicit = build(runTimeoutSeconds=600, cronJob={"activeDeadlineSeconds": 900})["spec"]["jobTemplate"]["spec"]
    assert explicit["activeDeadlineSeconds"] == 900
    assert "activeDeadlineSeconds" not in build()["spec"]["jobTemplate"]["spec"]


def test_a_triggered_job_is_the_cronjobs_template_owned_by_it():
    from langgraph_cron.core.cronjob import job_from_cronjob
    from langgraph_cron.core.runcontrol import trigger_job_name

    cronjob = {**build(), "metadata": {**build()["metadata"], "uid": "cj-uid"}}
    name = trigger_job_name("nightly", "v1")
    job = job_from_cronjob(cronjob, name, {"lgcron.io/trigger": "v1"})
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
                                                   "uid": "cj-uid", "controller": True, "blockOwnerDeletion": True}]
    assert job["metadata"]["labels"]["lgcron.io/uid"] == cronjob["metadata"]["labels"]["lgcron.io/uid"]
    assert job["metadata"]["annotations"]["lgcron.io/trigger"] == "v1"
    assert name == trigger_job_name("nightly", "v1") != trigger_job_name("nightly", "v2") and len(name) <= 63
