"""Measured: POST /runs/crons/search and /runs/crons/count (inmem 0.16.7).

Servers before langgraph-api 0.9 ignore the `metadata` filter (they return every cron): there the
client's searches and counts filter by themselves, so the tests through the client pass there too;
the tests that read the server's raw answer to a filtered search skip, saying so."""

import pytest
from langgraph_cron.clients.agent_server import CronNotFound, Rejected

from tests.agent_server.helpers import UID_KEY, cron_body, new_thread

pytestmark = pytest.mark.agent_server


@pytest.fixture
async def five(client, uid, cleanup):
    """Five crons sharing UID_KEY=uid; "i" 0..4, "ns" a,a,a,b,b; created in order of "i"."""
    crons = []
    for i in range(5):
        metadata = {UID_KEY: uid, "i": i, "ns": "a" if i < 3 else "b", "nested": {"n": i, "same": "x"},
                    "tags": ["t1", "t2"]}
        crons.append(await client.create(cron_body(uid, metadata=metadata)))
        cleanup.append(crons[-1].cron_id)
    return crons


def ids(crons):
    return [c.metadata["i"] for c in crons]


async def test_metadata_filter_matches_by_containment_of_top_level_pairs(client, uid, five):
    assert sorted(ids(await client.search(metadata={UID_KEY: uid, "ns": "a"}))) == [0, 1, 2]
    assert ids(await client.search(metadata={UID_KEY: uid, "ns": "a", "i": 4})) == []
    assert ids(await client.search(metadata={UID_KEY: uid, "missing": "x"})) == []


async def test_metadata_filter_matches_nested_dicts_partially(client, uid, five):
    assert len(await client.search(metadata={UID_KEY: uid, "nested": {"same": "x"}})) == 5


@pytest.mark.server_has("metadata_filter")  # the client reads a list as @> does: contained, not equal
async def test_metadata_filter_compares_lists_exactly(client, uid, five):
    assert await client.search(metadata={UID_KEY: uid, "tags": ["t2"]}) == []
    assert len(await client.search(metadata={UID_KEY: uid, "tags": ["t1", "t2"]})) == 5


async def test_count_applies_the_same_metadata_filter(client, uid, five):
    assert await client.count(metadata={UID_KEY: uid}) == 5
    assert await client.count(metadata={UID_KEY: uid, "ns": "b"}) == 2
    assert await client.count(metadata={UID_KEY: "no-such-uid"}) == 0


@pytest.mark.server_has("metadata_filter")  # isolates its crons on the shared server by the filter
async def test_search_without_limit_returns_10(raw, client, uid, cleanup):
    for _ in range(11):
        cleanup.append((await client.create(cron_body(uid))).cron_id)
    r = await raw.post("/runs/crons/search", json={"metadata": {UID_KEY: uid}})
    assert len(r.json()) == 10


@pytest.mark.server_has("metadata_filter")  # isolates its crons on the shared server by the filter
async def test_search_default_order_is_newest_first(raw, uid, five):
    r = await raw.post("/runs/crons/search", json={"metadata": {UID_KEY: uid}})
    assert [c["metadata"]["i"] for c in r.json()] == [4, 3, 2, 1, 0]


@pytest.mark.server_has("metadata_filter")  # isolates its crons on the shared server by the filter
async def test_sort_order_is_ignored_without_sort_by(raw, uid, five):
    r = await raw.post("/runs/crons/search", json={"metadata": {UID_KEY: uid}, "sort_order": "asc"})
    assert [c["metadata"]["i"] for c in r.json()] == [4, 3, 2, 1, 0]


async def test_client_search_sorts_oldest_first(client, uid, five):
    assert ids(await client.search(metadata={UID_KEY: uid})) == [0, 1, 2, 3, 4]


@pytest.mark.server_has("metadata_filter")  # isolates its crons on the shared server by the filter
async def test_limit_and_offset_page_through_results(client, uid, five):
    pages = [ids(await client.search(metadata={UID_KEY: uid}, limit=2, offset=o)) for o in (0, 2, 4, 6)]
    assert pages == [[0, 1], [2, 3], [4], []]


@pytest.mark.server_has("metadata_filter")  # isolates its crons on the shared server by the filter
async def test_pagination_next_header_is_the_next_offset_and_total_is_not_a_total(raw, uid, five):
    body = {"metadata": {UID_KEY: uid}, "limit": 2}
    first = await raw.post("/runs/crons/search", json=body)
    assert first.headers["x-pagination-next"] == "2"
    assert first.headers["x-pagination-total"] == "3"  # next offset + 1, not 5
    last = await raw.post("/runs/crons/search", json={**body, "offset": 4})
    assert "x-pagination-next" not in last.headers


@pytest.mark.parametrize("body, detail_start", [
    ({"limit": 1001}, "1001 is greater than the maximum of 1000"),
    ({"limit": 0}, "0 is less than the minimum of 1"),
    ({"offset": -1}, "-1 is less than the minimum of 0"),
])
async def test_search_limit_is_1_to_1000_and_offset_non_negative(client, body, detail_start):
    with pytest.raises(Rejected) as exc:
        await client.search(**body)
    assert exc.value.status_code == 422 and exc.value.detail.startswith(detail_start)


async def test_search_with_limit_1000_is_accepted(client, uid, five):
    assert len(await client.search(metadata={UID_KEY: uid}, limit=1000)) == 5


async def test_search_all_pages_through_everything(client, uid, five):
    assert sorted(ids(await client.search_all(metadata={UID_KEY: uid}, page_size=2))) == [0, 1, 2, 3, 4]


async def test_assistant_id_filter_takes_a_uuid(client, uid, five):
    found = await client.search(metadata={UID_KEY: uid}, assistant_id=five[0].assistant_id)
    assert len(found) == 5
    assert await client.count(metadata={UID_KEY: uid}, assistant_id=five[0].assistant_id) == 5


async def test_assistant_id_filter_rejects_a_graph_name(client):
    for call in (client.search, client.count):
        with pytest.raises(Rejected) as exc:
            await call(assistant_id="agent")
        assert exc.value.detail == "Invalid assistant ID: must be a UUID"


async def test_thread_id_filter(client, raw, uid, cleanup):
    thread_id = await new_thread(raw)
    cron = await client.create_for_thread(thread_id, cron_body(uid))
    cleanup.append(cron.cron_id)
    cleanup.append((await client.create(cron_body(uid))).cron_id)
    assert [c.cron_id for c in await client.search(thread_id=thread_id)] == [cron.cron_id]
    assert await client.count(thread_id=thread_id) == 1


@pytest.mark.server_has("metadata_filter")  # isolates its crons on the shared server by the filter
async def test_enabled_filter(raw, client, uid, cleanup):
    cleanup.append((await client.create(cron_body(uid, enabled=False))).cron_id)
    cleanup.append((await client.create(cron_body(uid))).cron_id)
    r = await raw.post("/runs/crons/search", json={"metadata": {UID_KEY: uid}, "enabled": False})
    assert [c["enabled"] for c in r.json()] == [False]


async def test_deleting_a_thread_deletes_its_crons(client, raw, uid):
    thread_id = await new_thread(raw)
    cron = await client.create_for_thread(thread_id, cron_body(uid))
    assert (await raw.delete(f"/threads/{thread_id}")).status_code == 204
    assert await client.count(thread_id=thread_id) == 0
    assert await client.search(metadata={UID_KEY: uid}) == []
    with pytest.raises(CronNotFound):
        await client.get(cron.cron_id)
