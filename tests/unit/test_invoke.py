"""`lgcron invoke`'s pure parts: request -> run plan, outcome -> exit code, log lines, help."""

import io
import json

import pytest
from langgraph_cron.cli import build_parser
from langgraph_cron.cli.invoke import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_RUN_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    INVOCATION_KEY,
    JOB_KEY,
    EventLog,
    InvalidRequest,
    exit_code_for_error,
    exit_code_for_status,
    failure_detail,
    parse_request,
    retry_transient,
)
from langgraph_cron.clients.agent_server import (
    AssistantNotFound,
    Rejected,
    ServerUnavailable,
    ThreadNotFound,
    Unauthorized,
)

OWNER = {"lgcron.io/uid": "u-1", "lgcron.io/namespace": "ns", "lgcron.io/name": "digest",
         "lgcron.io/assistant": "agent"}
CRON_BODY = {
    "schedule": "0 7 * * 1-5", "timezone": "Europe/Berlin", "enabled": True, "end_time": "2030-01-01T00:00:00Z",
    "assistant_id": "agent", "input": {"text": "hi"}, "metadata": {"team": "support", **OWNER},
    "config": {"tags": ["t"]}, "context": {"k": 1}, "webhook": "https://example.com/hook",
    "interrupt_before": ["a"], "interrupt_after": "*", "multitask_strategy": "enqueue",
    "stream_mode": ["values"], "stream_subgraphs": True, "stream_resumable": False, "durability": "sync",
    "on_run_completed": "keep",
}


def plan_of(request: dict, **kwargs):
    return parse_request(json.dumps(request), invocation_id="inv-1", **kwargs)


def test_a_stateless_request_becomes_a_run_body_without_scheduling_fields():
    plan = plan_of(CRON_BODY, job_name="digest-2890")
    assert plan.thread_id is None and plan.delete_thread is False
    expected = {k: v for k, v in CRON_BODY.items()
                if k not in ("schedule", "timezone", "enabled", "end_time", "on_run_completed")}
    expected["metadata"] = {"team": "support", **OWNER, JOB_KEY: "digest-2890", INVOCATION_KEY: "inv-1"}
    assert plan.body == expected


def test_a_thread_request_targets_its_thread_and_keeps_the_multitask_strategy():
    plan = plan_of({"assistant_id": "agent", "thread_id": "t-1", "multitask_strategy": "reject", "metadata": OWNER})
    assert (plan.thread_id, plan.delete_thread) == ("t-1", False)
    assert "thread_id" not in plan.body and plan.body["multitask_strategy"] == "reject"


@pytest.mark.parametrize("on_run_completed, deletes", [(None, True), ("delete", True), ("keep", False)])
def test_stateless_threads_are_deleted_unless_kept(on_run_completed, deletes):
    request = {"assistant_id": "agent", **({"on_run_completed": on_run_completed} if on_run_completed else {})}
    assert plan_of(request).delete_thread is deletes


def test_defaults_input_and_marks_the_invocation_without_a_job():
    plan = plan_of({"assistant_id": "agent"})
    assert plan.body == {"assistant_id": "agent", "input": {}, "metadata": {INVOCATION_KEY: "inv-1"}}


def test_the_request_cannot_forge_the_invocation_marker():
    plan = plan_of({"assistant_id": "agent", "metadata": {INVOCATION_KEY: "forged", JOB_KEY: "old"}}, job_name="new")
    assert plan.body["metadata"] == {INVOCATION_KEY: "inv-1", JOB_KEY: "new"}


@pytest.mark.parametrize("text, message", [
    ("not json", "not valid JSON"),
    ("[1]", "must be a JSON object"),
    ("{}", "no assistant_id"),
    ('{"assistant_id": " "}', "no assistant_id"),
    ('{"assistant_id": "a", "thread_id": 5}', "thread_id"),
    ('{"assistant_id": "a", "on_run_completed": "archive"}', "on_run_completed"),
    ('{"assistant_id": "a", "metadata": []}', "metadata"),
])
def test_invalid_requests_say_what_is_wrong(text, message):
    with pytest.raises(InvalidRequest, match=message):
        parse_request(text, invocation_id="inv-1")


@pytest.mark.parametrize("status, code", [
    ("success", EXIT_OK), ("error", EXIT_RUN_FAILED), ("timeout", EXIT_RUN_FAILED), ("interrupted", EXIT_RUN_FAILED),
])
def test_run_status_maps_to_exit_code(status, code):
    assert exit_code_for_status(status) == code


@pytest.mark.parametrize("error, code", [
    (ServerUnavailable("x"), EXIT_UNREACHABLE), (Rejected("x"), EXIT_REJECTED), (Unauthorized("x"), EXIT_REJECTED),
    (AssistantNotFound("x"), EXIT_REJECTED), (ThreadNotFound("x"), EXIT_REJECTED),
])
def test_server_errors_map_to_exit_code(error, code):
    assert exit_code_for_error(error) == code


def test_exit_codes_are_distinct():
    assert len({EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE}) == 5


def test_failure_detail_comes_from_the_join_error():
    assert failure_detail({"__error__": {"error": "BoomError", "message": "boom: x"}}) == "BoomError: boom: x"
    assert failure_detail({"text": "x"}) is None and failure_detail(None) is None


def test_plain_log_is_one_redacted_line():
    out = io.StringIO()
    EventLog("plain", secrets=("s3cret",), stream=out)("error", "rejected: detail\nwith s3cret\n  in it")
    assert out.getvalue() == "lgcron invoke: rejected: detail with *** in it\n"


def test_json_log_is_one_object_per_line_with_fields():
    out = io.StringIO()
    log = EventLog("json", secrets=("s3cret",), stream=out)
    log("run_started", "run r on thread t started", run_id="r", thread_id="t")
    log("error", "key s3cret", level="error")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "event", "message", "run_id", "thread_id")} == {
        "level": "info", "event": "run_started", "message": "run r on thread t started",
        "run_id": "r", "thread_id": "t"}
    assert second["message"] == "key ***" and "time" in first


def test_help_documents_options_exit_codes_and_environment(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["invoke", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("--request-file", "--server", "--no-wait", "--timeout", "--log-format", "--retry-budget",
                 "LGCRON_RUN_REQUEST", "LGCRON_SERVER_URL", "LGCRON_API_KEY", "LGCRON_JOB_NAME",
                 "exit codes", f"{EXIT_REJECTED}  the server rejected", f"{EXIT_UNREACHABLE}  the server stayed"):
        assert word in text


def test_options_parse():
    args = build_parser().parse_args(["invoke", "--request-file", "/r.json", "--server", "http://s", "--no-wait",
                                      "--timeout", "90", "--retry-budget", "2", "--log-format", "json"])
    assert (args.request_file, args.server, args.no_wait, args.timeout, args.retry_budget, args.log_format) == (
        "/r.json", "http://s", True, 90.0, 2.0, "json")
    for bad in (["--timeout", "0"], ["--log-format", "xml"]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["invoke", *bad])
        assert exc.value.code == EXIT_USAGE


async def test_a_retry_first_looks_for_what_the_lost_attempt_made():
    calls = []

    async def create():
        calls.append("create")
        raise ServerUnavailable("connection dropped")

    async def recover():
        calls.append("recover")
        return "the run"

    log = EventLog(stream=io.StringIO())
    assert await retry_transient(create, what="creating the run", budget=30, log=log, recover=recover) == "the run"
    assert calls == ["create", "recover"]


async def test_retries_stop_within_the_budget():
    attempts = 0

    async def failing():
        nonlocal attempts
        attempts += 1
        raise ServerUnavailable("HTTP 503")

    with pytest.raises(ServerUnavailable):
        await retry_transient(failing, what="x", budget=0.5, log=EventLog(stream=io.StringIO()))
    assert attempts >= 1


async def test_rejections_are_not_retried():
    attempts = 0

    async def rejected():
        nonlocal attempts
        attempts += 1
        raise Rejected("HTTP 422")

    with pytest.raises(Rejected):
        await retry_transient(rejected, what="x", budget=30, log=EventLog(stream=io.StringIO()))
    assert attempts == 1
