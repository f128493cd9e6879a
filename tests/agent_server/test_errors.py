"""Measured: status codes and `detail` strings of the real server, as the client classifies them."""

import uuid

import pytest
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AssistantNotFound,
    CronNotFound,
    Rejected,
    ServerUnavailable,
    ThreadNotFound,
    Unauthorized,
)

from tests.agent_server.helpers import cron_body, new_thread
from tests.graphs.auth import READONLY_KEY, VALID_KEY

pytestmark = pytest.mark.agent_server

UNKNOWN = "00000000-0000-4000-8000-000000000002"
SCHEDULE_HINT = ("Reason: Invalid cron schedule. Ensure the schedule uses the standard cron format "
                 "(minute hour day_of_month month day_of_week). Example: '*/5 * * * *' for every 5 minutes.")


async def test_create_with_unknown_graph_name_is_assistant_not_found(client, uid):
    with pytest.raises(AssistantNotFound) as exc:
        await client.create(cron_body(uid, assistant_id="no-such-graph"))
    assert (exc.value.status_code, exc.value.detail) == (404, "Assistant 'no-such-graph' not found")
    assert exc.value.reason == "AssistantNotFound"


async def test_create_with_unknown_assistant_uuid_is_assistant_not_found(client, uid):
    with pytest.raises(AssistantNotFound) as exc:
        await client.create(cron_body(uid, assistant_id=UNKNOWN))
    assert exc.value.detail == f"Assistant '{UNKNOWN}' not found"


async def test_create_for_unknown_thread_is_thread_not_found(client, uid):
    thread_id = str(uuid.uuid4())
    with pytest.raises(ThreadNotFound) as exc:
        await client.create_for_thread(thread_id, cron_body(uid))
    assert exc.value.status_code == 404
    assert exc.value.detail == (f"Thread with ID '{thread_id}' not found. Please verify the ID is correct "
                                "and the thread hasn't been deleted or expired.")


async def test_create_for_thread_with_unknown_graph_is_assistant_not_found(client, raw, uid):
    with pytest.raises(AssistantNotFound) as exc:
        await client.create_for_thread(await new_thread(raw), cron_body(uid, assistant_id="no-such-graph"))
    assert exc.value.detail == "Assistant 'no-such-graph' not found"


async def test_create_for_unknown_thread_with_unknown_graph_reports_the_assistant(client, uid):
    with pytest.raises(AssistantNotFound):
        await client.create_for_thread(str(uuid.uuid4()), cron_body(uid, assistant_id="no-such-graph"))


async def test_create_for_thread_with_non_uuid_thread_id_is_rejected(client, uid):
    with pytest.raises(Rejected) as exc:
        await client.create_for_thread("not-a-uuid", cron_body(uid))
    assert (exc.value.status_code, exc.value.detail) == (422, "Invalid thread ID: must be a UUID")


async def test_get_and_delete_of_unknown_cron_say_not_found(client):
    for call in (client.get, client.delete):
        with pytest.raises(CronNotFound) as exc:
            await call(UNKNOWN)
        assert (exc.value.status_code, exc.value.detail) == (404, "Not Found")


async def test_patch_of_unknown_cron_names_it(client):
    with pytest.raises(CronNotFound) as exc:
        await client.patch(UNKNOWN, {"enabled": False})
    assert (exc.value.status_code, exc.value.detail) == (404, f"Cron '{UNKNOWN}' not found")


async def test_non_uuid_cron_id_is_rejected_not_not_found(client):
    for call in (client.get, client.delete, lambda c: client.patch(c, {"enabled": False})):
        with pytest.raises(Rejected) as exc:
            await call("xyz")
        assert (exc.value.status_code, exc.value.detail) == (422, "Invalid cron ID: must be a UUID")


async def test_delete_twice_is_cron_not_found_the_second_time(client, uid):
    cron = await client.create(cron_body(uid))
    assert await client.delete(cron.cron_id) is None
    with pytest.raises(CronNotFound):
        await client.delete(cron.cron_id)


@pytest.mark.parametrize("schedule", ["not a cron", "61 * * * *", "* * * *"])
async def test_invalid_schedule_is_rejected_with_422(client, uid, schedule):
    with pytest.raises(Rejected) as exc:
        await client.create(cron_body(uid, schedule=schedule))
    assert exc.value.status_code == 422
    assert exc.value.detail == f"Invalid cron schedule: '{schedule}'. {SCHEDULE_HINT}"


async def test_invalid_timezone_is_rejected_with_422(client, uid):
    with pytest.raises(Rejected) as exc:
        await client.create(cron_body(uid, timezone="Mars/Olympus"))
    assert exc.value.status_code == 422
    assert exc.value.detail == "Invalid timezone: 'Mars/Olympus'. Use IANA timezone format (e.g. 'America/New_York')."


async def test_wrongly_typed_field_is_rejected_with_the_schema_message(client, uid):
    with pytest.raises(Rejected) as exc:
        await client.create(cron_body(uid, schedule=5))
    assert exc.value.status_code == 422
    assert exc.value.detail.startswith('5 is not of type "string"')


async def test_missing_schedule_is_a_500_from_the_server(client, uid):
    body = cron_body(uid)
    del body["schedule"]
    # A server bug (croniter gets None); the client can only call it unavailable: validate first.
    with pytest.raises(ServerUnavailable) as exc:
        await client.create(body)
    assert (exc.value.status_code, exc.value.detail) == (500, "Internal Server Error")


async def test_unreachable_server_is_server_unavailable(http):
    client = AgentServerClient(http, "http://127.0.0.1:9")
    with pytest.raises(ServerUnavailable) as exc:
        await client.count()
    assert str(exc.value) == "POST http://127.0.0.1:9/runs/crons/count: ConnectError: cannot connect: Connection refused"
    assert exc.value.reason == "ServerUnavailable" and exc.value.retry_after is None


async def test_missing_or_wrong_key_is_unauthorized_401(http, auth_server, uid):
    for key in (None, "wrong-key"):
        with pytest.raises(Unauthorized) as exc:
            await AgentServerClient(http, auth_server.url, key).search()
        assert (exc.value.status_code, exc.value.detail) == (401, "Invalid API key")


async def test_forbidden_by_auth_handler_is_unauthorized_403(http, auth_server, uid):
    with pytest.raises(Unauthorized) as exc:
        await AgentServerClient(http, auth_server.url, READONLY_KEY).create(cron_body(uid))
    assert (exc.value.status_code, exc.value.detail) == (403, "Not allowed to create crons")


async def test_valid_key_is_sent_as_x_api_key(http, auth_server, uid):
    client = AgentServerClient(http, auth_server.url, VALID_KEY)
    cron = await client.create(cron_body(uid))
    assert cron.user_id == "admin"
    await client.delete(cron.cron_id)
