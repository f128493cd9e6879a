"""Measured: what POST /runs/crons and POST /threads/{id}/runs/crons accept and return (inmem 0.16.7)."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from langgraph_cron.clients.agent_server import Rejected

from tests.agent_server.helpers import UID_KEY, cron_body, new_thread

pytestmark = pytest.mark.agent_server

RESPONSE_KEYS = {"cron_id", "assistant_id", "thread_id", "user_id", "end_time", "schedule", "timezone", "payload",
                 "next_run_date", "metadata", "on_run_completed", "enabled", "created_at", "updated_at"}


async def test_stateless_create_response_has_exactly_these_keys(raw, uid, cleanup):
    r = await raw.post("/runs/crons", json=cron_body(uid))
    assert r.status_code == 200
    cleanup.append(r.json()["cron_id"])
    assert set(r.json()) == RESPONSE_KEYS


async def test_stateless_create_defaults(client, uid, cleanup):
    cron = await client.create(cron_body(uid))
    cleanup.append(cron.cron_id)
    assert cron.thread_id is None
    assert cron.timezone is None
    assert cron.enabled is True
    assert cron.end_time is None
    assert cron.on_run_completed == "delete"
    assert cron.user_id == ""  # no auth configured: empty identity, not null
    assert cron.metadata == {UID_KEY: uid}


async def test_assistant_id_graph_name_is_resolved_to_the_default_assistant_uuid(client, raw, uid, cleanup):
    cron = await client.create(cron_body(uid))
    cleanup.append(cron.cron_id)
    assistants = (await raw.post("/assistants/search", json={"graph_id": "agent"})).json()
    default = next(a["assistant_id"] for a in assistants if a["metadata"].get("created_by") == "system")
    assert cron.assistant_id == default
    assert cron.payload["assistant_id"] == default


async def test_payload_is_the_request_body_plus_cron_id_in_configurable(raw, uid, cleanup):
    body = cron_body(uid, timezone="Europe/Berlin", config={"tags": ["t"], "configurable": {"x": 1}},
                     context={"k": "v"}, webhook="https://93.184.216.34/hook", stream_mode=["values"],
                     durability="exit", on_run_completed="keep", enabled=False, interrupt_before=["echo"],
                     stream_subgraphs=True, multitask_strategy="enqueue", bogus_key=1)
    cron = (await raw.post("/runs/crons", json=body)).json()
    cleanup.append(cron["cron_id"])
    expected = {**body, "assistant_id": cron["assistant_id"],
                "config": {"tags": ["t"], "configurable": {"x": 1, "cron_id": cron["cron_id"]}}}
    # Everything is kept, including schedule/timezone/enabled and keys the schema does not know.
    assert cron["payload"] == expected


async def test_top_level_fields_mirror_the_request(client, uid, cleanup):
    cron = await client.create(cron_body(uid, timezone="Europe/Berlin", on_run_completed="keep", enabled=False))
    cleanup.append(cron.cron_id)
    assert (cron.timezone, cron.on_run_completed, cron.enabled) == ("Europe/Berlin", "keep", False)


async def test_next_run_date_is_an_iso_string_in_utc_with_explicit_offset(raw, uid, cleanup):
    cron = (await raw.post("/runs/crons", json=cron_body(uid, schedule="0 9 * * *"))).json()
    cleanup.append(cron["cron_id"])
    assert cron["next_run_date"].endswith("T09:00:00+00:00")  # seconds precision, "+00:00" not "Z"
    assert cron["created_at"].endswith("+00:00")  # microsecond precision


async def test_next_run_date_is_computed_in_the_cron_timezone_and_returned_in_utc(client, uid, cleanup):
    cron = await client.create(cron_body(uid, schedule="0 9 * * *", timezone="America/New_York"))
    cleanup.append(cron.cron_id)
    assert cron.next_run_date.utcoffset() == timedelta(0)
    local = cron.next_run_date.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert cron.next_run_date.tzinfo is not None and cron.next_run_date.astimezone(UTC).hour != 9


async def test_six_field_schedule_is_accepted_with_seconds_last(client, uid, cleanup):
    cron = await client.create(cron_body(uid, schedule="0 0 1 1 * 30", enabled=False))
    cleanup.append(cron.cron_id)
    assert cron.next_run_date.second == 30


async def test_create_without_input_is_accepted(client, uid, cleanup):
    body = cron_body(uid)
    del body["input"]
    cron = await client.create(body)
    cleanup.append(cron.cron_id)
    assert "input" not in cron.payload  # runs will fail later: see test_scheduler


async def test_end_time_is_echoed_verbatim_as_sent(raw, uid, cleanup):
    # Stored as the request string (a naive time stays naive); see the scheduler test for why
    # an enabled cron must never carry end_time on this server.
    cron = (await raw.post("/runs/crons", json=cron_body(uid, end_time="2020-01-01T00:00:00", enabled=False))).json()
    cleanup.append(cron["cron_id"])
    assert cron["end_time"] == "2020-01-01T00:00:00"


async def test_thread_cron_has_thread_id_and_null_on_run_completed(client, raw, uid, cleanup):
    thread_id = await new_thread(raw)
    cron = await client.create_for_thread(thread_id, cron_body(uid, on_run_completed="keep", multitask_strategy="reject"))
    cleanup.append(cron.cron_id)
    assert cron.thread_id == thread_id
    assert cron.on_run_completed is None  # forced to null for thread crons...
    assert cron.payload["on_run_completed"] == "keep"  # ...though the request value stays in payload
    assert cron.payload["multitask_strategy"] == "reject"


@pytest.mark.server_has("webhook_check")
async def test_loopback_webhook_is_rejected(client, uid):
    with pytest.raises(Rejected) as exc:
        await client.create(cron_body(uid, webhook="http://127.0.0.1:9/hook"))
    assert (exc.value.status_code, exc.value.detail) == (422, "Webhook host blocked: loopback IP range")


@pytest.mark.server_has("webhook_check")
async def test_unresolvable_webhook_host_is_rejected(client, uid):
    with pytest.raises(Rejected) as exc:
        await client.create(cron_body(uid, webhook="https://nonexistent.invalid/hook"))
    assert (exc.value.status_code, exc.value.detail) == (422, "Webhook host blocked: DNS resolution failed")


async def test_private_ip_webhook_is_accepted(client, uid, cleanup):
    cron = await client.create(cron_body(uid, webhook="https://10.0.0.1/hook"))
    cleanup.append(cron.cron_id)
    assert cron.payload["webhook"] == "https://10.0.0.1/hook"
