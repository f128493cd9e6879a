"""Measured: PATCH /runs/crons/{id} semantics (inmem 0.16.7).

Summary: the request body is shallow-merged into the stored payload (unknown keys included); the
top-level columns schedule, timezone, enabled, end_time, on_run_completed and metadata are
updated from it; metadata merges; assistant_id and thread_id never change.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from langgraph_cron.clients.agent_server import Rejected

from tests.agent_server.helpers import UID_KEY, cron_body, new_thread

pytestmark = pytest.mark.agent_server


@pytest.fixture
async def cron(client, uid, cleanup):
    created = await client.create(cron_body(uid, schedule="0 9 * * *", config={"tags": ["t"], "configurable": {"x": 1}},
                                            metadata={UID_KEY: uid, "k1": "v1", "k2": "v2"}))
    cleanup.append(created.cron_id)
    return created


async def test_patch_response_equals_a_following_get(client, cron):
    patched = await client.patch(cron.cron_id, {"schedule": "0 10 * * *"})
    assert patched == await client.get(cron.cron_id)


async def test_patch_bumps_updated_at_only(client, cron):
    patched = await client.patch(cron.cron_id, {"enabled": False})
    assert patched.created_at == cron.created_at
    assert patched.updated_at > cron.updated_at


async def test_patch_schedule_recomputes_next_run_date(client, cron):
    patched = await client.patch(cron.cron_id, {"schedule": "0 10 * * *"})
    assert patched.schedule == patched.payload["schedule"] == "0 10 * * *"
    assert (patched.next_run_date.hour, patched.next_run_date.minute) == (10, 0)


async def test_patch_timezone_recomputes_next_run_date(client, cron):
    patched = await client.patch(cron.cron_id, {"timezone": "Asia/Tokyo"})
    assert patched.timezone == "Asia/Tokyo"
    local = patched.next_run_date.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (9, 0)


async def test_patch_schedule_alone_keeps_the_timezone(client, cron):
    await client.patch(cron.cron_id, {"timezone": "Asia/Tokyo"})
    patched = await client.patch(cron.cron_id, {"schedule": "30 7 * * *"})
    assert patched.timezone == "Asia/Tokyo"
    local = patched.next_run_date.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (7, 30)


async def test_patch_timezone_null_is_rejected_so_utc_must_be_sent_to_reset(client, cron):
    await client.patch(cron.cron_id, {"timezone": "Asia/Tokyo"})
    with pytest.raises(Rejected) as exc:
        await client.patch(cron.cron_id, {"timezone": None})
    assert exc.value.status_code == 422
    assert (await client.patch(cron.cron_id, {"timezone": "UTC"})).next_run_date.hour == 9


async def test_patch_enabled_toggles_and_keeps_next_run_date(client, cron):
    disabled = await client.patch(cron.cron_id, {"enabled": False})
    assert disabled.enabled is False and disabled.next_run_date == cron.next_run_date
    assert (await client.patch(cron.cron_id, {"enabled": True})).enabled is True


async def test_patch_input_replaces_payload_input(client, cron):
    patched = await client.patch(cron.cron_id, {"input": {"other": 1}})
    assert patched.payload["input"] == {"other": 1}


async def test_patch_metadata_merges_into_cron_metadata(client, cron, uid):
    patched = await client.patch(cron.cron_id, {"metadata": {"k2": "new", "k3": "v3"}})
    assert patched.metadata == {UID_KEY: uid, "k1": "v1", "k2": "new", "k3": "v3"}


async def test_patch_metadata_cannot_remove_keys_null_sets_null_and_empty_is_a_no_op(client, cron, uid):
    assert (await client.patch(cron.cron_id, {"metadata": {"k1": None}})).metadata["k1"] is None
    patched = await client.patch(cron.cron_id, {"metadata": {}})
    assert patched.metadata == {UID_KEY: uid, "k1": None, "k2": "v2"}


async def test_patch_metadata_replaces_payload_metadata(client, cron):
    # Runs get {**cron.metadata, **payload.metadata}, so they still see every merged key.
    patched = await client.patch(cron.cron_id, {"metadata": {"k3": "v3"}})
    assert patched.payload["metadata"] == {"k3": "v3"}


async def test_patch_config_replaces_the_whole_config_but_keeps_cron_id(client, cron):
    patched = await client.patch(cron.cron_id, {"config": {"tags": ["u"]}})
    assert patched.payload["config"] == {"tags": ["u"], "configurable": {"cron_id": cron.cron_id}}


async def test_patch_context_is_stored_in_payload(client, cron):
    assert (await client.patch(cron.cron_id, {"context": {"c": 1}})).payload["context"] == {"c": 1}


async def test_patch_assistant_id_is_silently_ignored(client, cron):
    patched = await client.patch(cron.cron_id, {"assistant_id": "failing"})
    assert patched.assistant_id == patched.payload["assistant_id"] == cron.assistant_id


async def test_patch_thread_id_is_silently_ignored_but_lands_in_payload(client, cron):
    other = "00000000-0000-4000-8000-000000000001"
    patched = await client.patch(cron.cron_id, {"thread_id": other})
    assert patched.thread_id is None
    assert patched.payload["thread_id"] == other  # junk in the payload: never send thread_id


async def test_patch_multitask_strategy_is_stored_in_payload(client, raw, uid, cleanup):
    thread_id = await new_thread(raw)
    cron = await client.create_for_thread(thread_id, cron_body(uid, multitask_strategy="enqueue"))
    cleanup.append(cron.cron_id)
    patched = await client.patch(cron.cron_id, {"multitask_strategy": "reject"})
    assert patched.payload["multitask_strategy"] == "reject"  # and it applies: see test_scheduler


async def test_patch_on_run_completed_is_accepted_even_for_thread_crons(client, raw, uid, cleanup):
    cron = await client.create_for_thread(await new_thread(raw), cron_body(uid))
    cleanup.append(cron.cron_id)
    assert (await client.patch(cron.cron_id, {"on_run_completed": "keep"})).on_run_completed == "keep"


@pytest.mark.server_has("clear_end_time")
async def test_patch_end_time_sets_it_and_null_clears_it(client, cron):
    end = (datetime.now().astimezone() + timedelta(days=3650)).isoformat()
    # Disable first: an enabled cron with end_time breaks this server's scheduler (test_scheduler).
    await client.patch(cron.cron_id, {"enabled": False})
    assert (await client.patch(cron.cron_id, {"end_time": end})).end_time is not None
    assert (await client.patch(cron.cron_id, {"end_time": None})).end_time is None


async def test_patch_unknown_keys_are_accepted_and_stored_in_payload(client, cron):
    assert (await client.patch(cron.cron_id, {"bogus": 1})).payload["bogus"] == 1


async def test_patch_empty_body_is_rejected_with_400(client, cron):
    with pytest.raises(Rejected) as exc:
        await client.patch(cron.cron_id, {})
    assert (exc.value.status_code, exc.value.detail) == (400, "Request body cannot be empty")


@pytest.mark.parametrize("fields, detail_start", [
    ({"schedule": "bad"}, "Invalid cron schedule: 'bad'. Reason: Invalid cron schedule."),
    ({"timezone": "Mars/Base"}, "Invalid timezone: 'Mars/Base'. Use IANA timezone format"),
    ({"input": None}, "null is not valid under any of the schemas listed in the 'anyOf' keyword"),
])
async def test_patch_invalid_values_are_rejected_with_422(client, cron, fields, detail_start):
    with pytest.raises(Rejected) as exc:
        await client.patch(cron.cron_id, fields)
    assert exc.value.status_code == 422
    assert exc.value.detail.startswith(detail_start)
    assert await client.get(cron.cron_id) == cron  # nothing was applied


async def test_patch_with_bad_schedule_still_applies_the_timezone_partially(client, cron):
    # The timezone is written before the schedule is validated: validate schedules client-side.
    with pytest.raises(Rejected):
        await client.patch(cron.cron_id, {"timezone": "Asia/Tokyo", "schedule": "bad", "enabled": False})
    after = await client.get(cron.cron_id)
    assert after.timezone == "Asia/Tokyo"
    assert (after.schedule, after.enabled, after.next_run_date) == (cron.schedule, True, cron.next_run_date)
