"""AgentServerClient round trips against the real server (the contract the operator codes against)."""

from datetime import UTC, datetime, timedelta

import pytest
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    Cron,
    CronNotFound,
    Unauthorized,
)

from tests.agent_server.helpers import UID_KEY, cron_body, new_thread
from tests.graphs.auth import VALID_KEY

pytestmark = pytest.mark.agent_server


async def test_create_returns_a_cron_with_aware_utc_datetimes(client, uid, cleanup):
    cron = await client.create(cron_body(uid))
    cleanup.append(cron.cron_id)
    assert isinstance(cron, Cron)
    now = datetime.now(UTC)
    for value in (cron.created_at, cron.updated_at, cron.next_run_date):
        assert value.utcoffset() == timedelta(0)
    assert now - timedelta(minutes=1) < cron.created_at <= now
    assert cron.next_run_date > now


async def test_get_returns_what_create_returned(client, uid, cleanup):
    cron = await client.create(cron_body(uid))
    cleanup.append(cron.cron_id)
    assert await client.get(cron.cron_id) == cron


async def test_create_for_thread_binds_the_cron_to_the_thread(client, raw, uid, cleanup):
    thread_id = await new_thread(raw)
    cron = await client.create_for_thread(thread_id, cron_body(uid))
    cleanup.append(cron.cron_id)
    assert (await client.get(cron.cron_id)).thread_id == thread_id


async def test_patch_returns_the_updated_cron(client, uid, cleanup):
    cron = await client.create(cron_body(uid))
    cleanup.append(cron.cron_id)
    assert (await client.patch(cron.cron_id, {"enabled": False})).enabled is False


async def test_delete_removes_the_cron(client, uid):
    cron = await client.create(cron_body(uid))
    assert await client.delete(cron.cron_id) is None
    with pytest.raises(CronNotFound):
        await client.get(cron.cron_id)


async def test_search_and_count_find_crons_by_metadata(client, uid, cleanup):
    crons = [await client.create(cron_body(uid)) for _ in range(3)]
    cleanup += [c.cron_id for c in crons]
    assert [c.cron_id for c in await client.search(metadata={UID_KEY: uid})] == [c.cron_id for c in crons]
    assert await client.count(metadata={UID_KEY: uid}) == 3


async def test_search_all_returns_each_cron_once_across_pages(client, uid, cleanup):
    crons = [await client.create(cron_body(uid)) for _ in range(5)]
    cleanup += [c.cron_id for c in crons]
    found = await client.search_all(metadata={UID_KEY: uid}, page_size=2)
    assert sorted(c.cron_id for c in found) == sorted(c.cron_id for c in crons)


async def test_client_views_share_one_http_client_and_each_sends_its_own_key(http, auth_server):
    good, stale = AgentServerClient(http, auth_server.url, VALID_KEY), AgentServerClient(http, auth_server.url, "old")
    assert isinstance(await good.count(), int)
    with pytest.raises(Unauthorized):
        await stale.count()
    assert isinstance(await good.count(), int)  # the shared pool is unaffected by the other view
