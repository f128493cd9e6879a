"""What each langgraph-api release has, as the client detects it (GET /info), and how the client and
the operator do without what an older one lacks (clients/agent_server_versions.py).

Run against every release CI tests (LGCRON_TEST_AGENT_SERVER_PYTHON, scripts/agent-servers): each test
asserts what that release does, so none of them skips.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    CronNotFound,
    Rejected,
    make_http_client,
)
from langgraph_cron.clients.agent_server_versions import ServerFeatures
from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import Identity
from langgraph_cron.engine.service import CronService

from tests.agent_server.helpers import NEVER_SOON, UID_KEY, cron_body
from tests.agent_server_fixture import server_release

pytestmark = pytest.mark.agent_server

# Measured on each release's in-memory server (README "Compatibility"): what it lacks.
MEASURED = {
    "0.7.103": {"webhook_check", "metadata_filter", "get_cron", "clear_end_time"},
    "0.11.4": {"clear_end_time"},
    "0.16.7": set(),
}


@pytest.fixture
async def recorded(agent_server, recorder):
    """A client whose requests `recorder` sees."""
    async with make_http_client(timeout=10.0, transport=recorder) as http:
        yield AgentServerClient(http, agent_server.url)


async def test_info_says_the_release_that_runs(raw):
    info = (await raw.get("/info")).json()
    assert info["version"] == server_release()
    assert info["flags"]["crons"] is True


async def test_the_client_reads_the_release_and_what_it_lacks(client):
    features = await client.features()
    assert features.version == server_release()
    assert features.lacks == ServerFeatures.of(server_release()).lacks
    if server_release() in MEASURED:
        assert features.lacks == MEASURED[server_release()]
    assert features.supported


async def test_features_are_read_once_per_client(recorded, recorder):
    await recorded.features()
    await recorded.features()
    assert recorder.requests == ["GET /info"]


async def test_get_uses_get_where_the_server_has_it_else_pages_through_search(recorded, recorder, client, uid, cleanup):
    cron = await client.create(cron_body(uid))
    cleanup.append(cron.cron_id)
    assert await recorded.get(cron.cron_id) == cron
    assert await recorded.get(cron.cron_id) == cron
    path = f"/runs/crons/{cron.cron_id}"
    if (await client.features()).has("get_cron"):
        assert recorder.requests == [f"GET {path}", f"GET {path}"]
    else:  # one 405, remembered: the second get searches at once
        assert recorder.requests[0] == f"GET {path}"
        assert set(recorder.requests[1:]) == {"POST /runs/crons/search"}
        assert recorder.requests.count(f"GET {path}") == 1
    with pytest.raises(CronNotFound) as exc:
        await recorded.get(str(uuid.uuid4()))
    assert (exc.value.status_code, exc.value.detail) == (404, "Not Found")
    with pytest.raises(Rejected) as exc:
        await recorded.get("xyz")
    assert (exc.value.status_code, exc.value.detail) == (422, "Invalid cron ID: must be a UUID")


async def test_searches_and_counts_filter_by_metadata_on_every_release(recorded, recorder, client, uid, cleanup):
    for suffix in ("", "-other", "-other"):
        cleanup.append((await client.create(cron_body(uid + suffix))).cron_id)
    assert [c.metadata[UID_KEY] for c in await recorded.search(metadata={UID_KEY: uid})] == [uid]
    assert [c.metadata[UID_KEY] for c in await recorded.search_all(metadata={UID_KEY: uid}, page_size=1)] == [uid]
    assert await recorded.count(metadata={UID_KEY: uid}) == 1
    assert await recorded.count(metadata={UID_KEY: f"{uid}-other"}) == 2
    counts = [r for r in recorder.requests if r == "POST /runs/crons/count"]
    if (await client.features()).has("metadata_filter"):
        assert len(counts) == 2
    else:  # the server would count every cron: the client pages through them and counts
        assert counts == []


async def test_a_search_pages_through_every_cron_where_the_server_ignores_the_filter(recorded, recorder, client, uid,
                                                                                     cleanup):
    for suffix in ("", "-a", "-b", "-c"):
        cleanup.append((await client.create(cron_body(uid + suffix))).cron_id)
    pages = [page async for page in recorded.search_pages(metadata={UID_KEY: uid}, page_size=2)]
    assert [c["metadata"][UID_KEY] for page in pages for c in page] == [uid]
    total = await client.count()  # every cron on the server, this test's four included
    if (await client.features()).has("metadata_filter"):
        assert len(recorder.requests) == 1  # one page: the server filtered
    else:
        assert len(recorder.requests) == total // 2 + 1


def cron_object(**spec) -> CronObject:
    uid = str(uuid.uuid4())
    return CronObject(
        identity=Identity(uid=uid, namespace="versions", name=f"v-{uid[:8]}", cluster="test-versions"),
        generation=1, raw_spec={"schedule": NEVER_SOON, "assistantId": "agent", **spec},
        status=LangGraphCronStatus(),
    )


async def test_removing_a_forwarded_end_time_patches_or_replaces_as_the_release_allows(agent_server, client, cleanup):
    end = (datetime.now(UTC) + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Disabled: an enabled cron with end_time stops this server's scheduler (test_scheduler).
    obj = cron_object(enabled=False, endTime=end)
    async with make_http_client(timeout=10.0) as http:
        service = CronService(Settings(server_url=agent_server.url, cluster_id="test-versions", forward_end_time=True),
                              http, kube=None)
        made = await service.reconcile(obj)
        cleanup.append(made.status.cron_id)
        assert (await client.get(made.status.cron_id)).end_time is not None
        changed = CronObject(identity=obj.identity, generation=2, status=made.status,
                             raw_spec={k: v for k, v in obj.raw_spec.items() if k != "endTime"})
        result = await service.reconcile(changed)
    cleanup.append(result.status.cron_id)
    assert result.status.condition("Ready").status == "True"
    [cron] = await client.search(metadata={UID_KEY: obj.identity.uid})
    assert cron.cron_id == result.status.cron_id and cron.end_time is None
    reasons = [e.reason for e in result.events]
    if (await client.features()).has("clear_end_time"):
        assert "Updated" in reasons and cron.cron_id == made.status.cron_id
    else:
        assert "Replaced" in reasons and cron.cron_id != made.status.cron_id
        assert any("cannot unset it" in e.message for e in result.events)

