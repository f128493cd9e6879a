"""The API key never shows up in exception text, repr, tracebacks or logs, for every error class."""

import logging
import socket
import traceback
import uuid

import pytest
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    AssistantNotFound,
    CronNotFound,
    Rejected,
    ServerUnavailable,
    ThreadNotFound,
    Unauthorized,
    make_http_client,
)

from tests.agent_server.helpers import cron_body
from tests.graphs.auth import VALID_KEY

pytestmark = pytest.mark.agent_server

SENTINEL = "sk-SENTINEL-" + uuid.uuid4().hex
UNKNOWN = "00000000-0000-4000-8000-000000000002"


def assert_clean(exc: BaseException, caplog) -> None:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), caplog.text]
    texts += [str(r.args) for r in caplog.records]
    for text in texts:
        assert SENTINEL not in text


@pytest.fixture
def silent_listener():
    """A port that accepts connections (backlog) but never answers: read timeouts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_sentinel_key_never_leaks_from_any_error_class(http, agent_server, auth_server, silent_listener, uid,
                                                               caplog):
    caplog.set_level(logging.DEBUG)
    client = AgentServerClient(http, agent_server.url, SENTINEL)
    body_without_schedule = {k: v for k, v in cron_body(uid).items() if k != "schedule"}
    cases = [
        (Rejected, client.create(cron_body(uid, schedule="bad"))),
        (AssistantNotFound, client.create(cron_body(uid, assistant_id="nope"))),
        (ThreadNotFound, client.create_for_thread(str(uuid.uuid4()), cron_body(uid))),
        (CronNotFound, client.get(UNKNOWN)),
        (CronNotFound, client.patch(UNKNOWN, {"enabled": False})),
        (CronNotFound, client.delete(UNKNOWN)),
        (ServerUnavailable, client.create(body_without_schedule)),  # the server's 500
        (Unauthorized, AgentServerClient(http, auth_server.url, SENTINEL).search()),
        (ServerUnavailable, AgentServerClient(http, "http://127.0.0.1:9", SENTINEL).count()),
    ]
    async with make_http_client(timeout=0.3) as impatient:
        cases.append((ServerUnavailable, AgentServerClient(impatient, silent_listener, SENTINEL).count()))
        for expected, call in cases:
            with pytest.raises(AgentServerError) as exc:
                await call
            assert type(exc.value) is expected, exc.value
            assert_clean(exc.value, caplog)


async def test_transport_errors_are_not_chained_to_httpx_exceptions(http):
    with pytest.raises(ServerUnavailable) as exc:
        await AgentServerClient(http, "http://127.0.0.1:9", SENTINEL).count()
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


async def test_timeout_is_server_unavailable_naming_the_url_and_error_class(silent_listener):
    async with make_http_client(timeout=0.3) as impatient:
        with pytest.raises(ServerUnavailable) as exc:
            await AgentServerClient(impatient, silent_listener, SENTINEL).count()
    assert str(exc.value) == f"POST {silent_listener}/runs/crons/count: ReadTimeout: timed out waiting for the response"


async def test_key_with_a_trailing_newline_is_stripped_and_works(http, auth_server):
    # Secrets created from files often end in a newline.
    assert isinstance(await AgentServerClient(http, auth_server.url, VALID_KEY + "\n").count(), int)


async def test_key_with_control_characters_is_unauthorized_without_echoing_it(http, agent_server, caplog):
    caplog.set_level(logging.DEBUG)
    bad = SENTINEL[:10] + "\n" + SENTINEL[10:]
    with pytest.raises(Unauthorized) as exc:
        await AgentServerClient(http, agent_server.url, bad).count()
    assert "not allowed in an HTTP header" in str(exc.value)
    assert_clean(exc.value, caplog)
    assert SENTINEL[10:] not in str(exc.value)


async def test_server_detail_echoing_the_key_is_redacted(http, agent_server, uid):
    with pytest.raises(AssistantNotFound) as exc:
        await AgentServerClient(http, agent_server.url, SENTINEL).create(cron_body(uid, assistant_id=SENTINEL))
    assert exc.value.detail == "Assistant '***' not found"
    assert SENTINEL not in str(exc.value)


async def test_client_repr_hides_the_key(http):
    assert SENTINEL not in repr(AgentServerClient(http, "http://x", SENTINEL))
