"""Unit tests of the Agent Server client's error classification and backoff (httpx.MockTransport)."""

import email.utils
import json
import ssl
import time

import httpx
import pytest
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    AssistantNotFound,
    Cron,
    CronNotFound,
    Rejected,
    ServerUnavailable,
    ThreadNotFound,
    Unauthorized,
    backoff_delay,
    make_http_client,
    parse_retry_after,
)

URL = "http://agent.test"
KEY = "sk-unit-secret"
CRON = {"cron_id": "c1", "assistant_id": "a1", "thread_id": None, "schedule": "0 9 * * *",
        "next_run_date": "2026-11-22T09:00:00+00:00", "created_at": "2026-11-22T02:00:00.5+00:00",
        "payload": {"input": {}}, "metadata": {"k": "v"}, "enabled": True, "some_future_field": 1}


def client_for(handler, api_key: str | None = KEY) -> AgentServerClient:
    return AgentServerClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), URL, api_key)


def respond(status: int, body=None, headers=None, text=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)
    return handler


def raising(exc_type):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)
    return handler


# ---------------------------------------------------------------- classification

@pytest.mark.parametrize("status", [400, 422, 409, 413])
async def test_client_errors_are_rejected_with_the_detail(status):
    with pytest.raises(Rejected) as exc:
        await client_for(respond(status, {"detail": "bad schedule"})).create({})
    assert (exc.value.reason, exc.value.status_code, exc.value.detail) == ("Rejected", status, "bad schedule")
    assert str(exc.value) == f"POST {URL}/runs/crons: HTTP {status}: bad schedule"
    assert exc.value.retry_after is None


async def test_list_detail_is_joined_from_messages():
    body = {"detail": [{"loc": ["body", "schedule"], "msg": "field required"}, {"msg": "bad type"}]}
    with pytest.raises(Rejected) as exc:
        await client_for(respond(422, body)).create({})
    assert exc.value.detail == "field required; bad type"


async def test_non_json_error_body_is_used_as_detail():
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(502, text="<html>bad gateway</html>")).count()
    assert exc.value.detail == "<html>bad gateway</html>"


async def test_empty_error_body_falls_back_to_the_reason_phrase():
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(503, text="")).count()
    assert exc.value.detail == "Service Unavailable"


async def test_long_detail_is_truncated():
    with pytest.raises(Rejected) as exc:
        await client_for(respond(422, {"detail": "x" * 5000})).create({})
    assert len(exc.value.detail) < 1100


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_are_unauthorized(status):
    with pytest.raises(Unauthorized) as exc:
        await client_for(respond(status, {"detail": "Invalid API key"})).search()
    assert (exc.value.reason, exc.value.detail) == ("Unauthorized", "Invalid API key")


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_transient_statuses_are_server_unavailable(status):
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(status, {"detail": "later"})).get("c1")
    assert exc.value.reason == "ServerUnavailable" and exc.value.status_code == status


async def test_429_carries_retry_after_seconds():
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(429, {"detail": "slow down"}, headers={"Retry-After": "7"})).count()
    assert exc.value.retry_after == 7.0


async def test_503_carries_retry_after_http_date():
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(503, None, headers={"Retry-After": when})).count()
    assert 100 < exc.value.retry_after <= 121


async def test_unparsable_retry_after_is_ignored():
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(429, None, headers={"Retry-After": "soon"})).count()
    assert exc.value.retry_after is None


async def test_404_on_create_is_assistant_not_found():
    with pytest.raises(AssistantNotFound):
        await client_for(respond(404, {"detail": "Assistant 'x' not found"})).create({})


@pytest.mark.parametrize("detail, expected", [
    ("Thread with ID 't' not found. Please verify the ID is correct and the thread hasn't been deleted or expired.",
     ThreadNotFound),
    ("Assistant 'x' not found", AssistantNotFound),
    ("Not Found", ThreadNotFound),
])
async def test_404_on_create_for_thread_is_told_apart_by_detail(detail, expected):
    with pytest.raises(AgentServerError) as exc:
        await client_for(respond(404, {"detail": detail})).create_for_thread("t", {})
    assert type(exc.value) is expected


@pytest.mark.parametrize("call", ["get", "delete", "patch"])
async def test_404_on_a_cron_id_is_cron_not_found(call):
    client = client_for(respond(404, {"detail": "Not Found"}))
    with pytest.raises(CronNotFound) as exc:
        await (client.patch("c1", {"enabled": False}) if call == "patch" else getattr(client, call)("c1"))
    assert exc.value.reason == "CronNotFound"


async def test_404_on_search_is_rejected():
    with pytest.raises(Rejected):
        await client_for(respond(404, {"detail": "Not Found"})).search()


async def test_redirect_is_not_followed_and_rejected():
    with pytest.raises(Rejected) as exc:
        await client_for(respond(307, None, headers={"Location": "https://elsewhere.test/runs/crons"})).count()
    assert exc.value.status_code == 307


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ReadTimeout, httpx.ConnectTimeout,
                                      httpx.ReadError, httpx.RemoteProtocolError, httpx.PoolTimeout])
async def test_transport_errors_are_server_unavailable_naming_url_and_error_class(exc_type):
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(raising(exc_type)).get("c1")
    assert str(exc.value) == f"GET {URL}/runs/crons/c1: {exc_type.__name__}: boom"
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


async def test_unsupported_scheme_is_rejected():
    client = AgentServerClient(httpx.AsyncClient(), "ftp://agent.test", KEY)
    with pytest.raises(Rejected):
        await client.count()


async def test_success_with_non_json_body_is_server_unavailable():
    with pytest.raises(ServerUnavailable):
        await client_for(respond(200, text="<html>proxy login</html>")).get("c1")


async def test_success_with_a_body_that_is_not_a_cron_is_server_unavailable():
    with pytest.raises(ServerUnavailable) as exc:
        await client_for(respond(200, {"unexpected": True})).get("c1")
    assert "unexpected cron object" in str(exc.value)


async def test_count_with_non_integer_body_is_server_unavailable():
    with pytest.raises(ServerUnavailable):
        await client_for(respond(200, {"count": 3})).count()


# ---------------------------------------------------------------- requests sent

async def test_requests_carry_the_key_as_x_api_key_and_snake_case_body_as_given():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=CRON)

    await client_for(handler).create({"assistant_id": "agent", "on_run_completed": "keep"})
    assert seen[0].headers["x-api-key"] == KEY
    assert json.loads(seen[0].content) == {"assistant_id": "agent", "on_run_completed": "keep"}
    assert (seen[0].method, seen[0].url.path) == ("POST", "/runs/crons")


async def test_no_key_means_no_header():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=3)

    await client_for(handler, api_key=None).count()
    assert "x-api-key" not in seen[0].headers


async def test_paths_and_methods():
    seen = []

    def handler(request):
        seen.append((request.method, request.url.raw_path.decode()))
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json=[] if request.url.path.endswith("search") else CRON)

    client = client_for(handler)
    await client.create_for_thread("t/1", {})
    await client.get("c1")
    await client.patch("c1", {"enabled": False})
    await client.delete("c1")
    await client.search()
    assert seen == [("POST", "/threads/t%2F1/runs/crons"), ("GET", "/runs/crons/c1"), ("PATCH", "/runs/crons/c1"),
                    ("DELETE", "/runs/crons/c1"), ("POST", "/runs/crons/search")]


async def test_cron_model_parses_server_json_and_ignores_unknown_fields():
    cron = await client_for(respond(200, CRON)).get("c1")
    assert isinstance(cron, Cron) and cron.next_run_date.tzinfo is not None
    assert cron.timezone is None and cron.end_time is None and cron.user_id is None
    assert not hasattr(cron, "some_future_field")


async def test_search_sends_filters_paging_and_oldest_first_sort():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=[])

    await client_for(handler).search(metadata={"k": "v"}, thread_id="t1", limit=5, offset=10)
    assert bodies == [{"metadata": {"k": "v"}, "thread_id": "t1", "limit": 5, "offset": 10,
                       "sort_by": "created_at", "sort_order": "asc"}]


async def test_search_all_pages_until_a_short_page_and_dedupes():
    offsets = []

    def handler(request):
        body = json.loads(request.content)
        offsets.append(body["offset"])
        pages = {0: ["a", "b"], 2: ["b", "c"], 4: ["d"]}  # "b" repeats, as after a concurrent insert
        return httpx.Response(200, json=[{**CRON, "cron_id": i} for i in pages[body["offset"]]])

    crons = await client_for(handler).search_all(page_size=2)
    assert [c.cron_id for c in crons] == ["a", "b", "c", "d"]
    assert offsets == [0, 2, 4]


async def test_count_sends_filters_and_returns_the_integer():
    bodies = []

    def handler(request):
        if request.url.path == "/info":  # a count by metadata first asks which release this is, once
            return httpx.Response(200, json={"version": "0.16.7"})
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=4)

    client = client_for(handler)
    assert await client.count(metadata={"k": "v"}) == 4
    assert await client.count(metadata={"k": "v"}) == 4
    assert bodies == [{"metadata": {"k": "v"}}] * 2


async def test_count_by_metadata_on_a_server_that_ignores_the_filter_pages_through_every_cron():
    crons = [{"cron_id": f"c{i}", "schedule": "* * * * *", "metadata": {"k": "v" if i % 2 else "w"}} for i in range(5)]
    seen = []

    def handler(request):
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/info":
            return httpx.Response(200, json={"version": "0.7.103"})
        body = json.loads(request.content)
        return httpx.Response(200, json=crons[body["offset"]:body["offset"] + body["limit"]])

    assert await client_for(handler).count(metadata={"k": "v"}) == 2
    assert seen == ["GET /info", "POST /runs/crons/search"]


async def test_key_is_redacted_from_server_detail_and_client_repr():
    client = client_for(respond(422, {"detail": f"bad key {KEY}"}))
    with pytest.raises(Rejected) as exc:
        await client.create({})
    assert KEY not in str(exc.value) and KEY not in repr(exc.value) and "***" in exc.value.detail
    assert KEY not in repr(client)


async def test_userinfo_in_base_url_is_not_shown_in_messages():
    client = AgentServerClient(httpx.AsyncClient(transport=httpx.MockTransport(respond(500, None))),
                               "http://user:pw@agent.test", None)
    with pytest.raises(ServerUnavailable) as exc:
        await client.count()
    assert "pw" not in str(exc.value) and "agent.test" in str(exc.value)


# ---------------------------------------------------------------- http client

async def test_make_http_client_defaults():
    async with make_http_client() as http:
        assert http.follow_redirects is False
        assert http.timeout.read == 30.0 and http.timeout.connect == 10.0


async def test_make_http_client_accepts_a_ca_bundle_path():
    import certifi

    async with make_http_client(verify=certifi.where(), timeout=5.0) as http:
        assert http.timeout.connect == 5.0


def test_make_http_client_rejects_a_missing_ca_bundle(tmp_path):
    with pytest.raises((FileNotFoundError, ssl.SSLError)):
        make_http_client(verify=str(tmp_path / "missing.pem"))


# ---------------------------------------------------------------- backoff

def test_backoff_is_full_jitter_below_an_exponential_ceiling():
    assert backoff_delay(0, rand=lambda: 0.999) < 1.0
    assert backoff_delay(3, rand=lambda: 0.5) == 4.0
    assert backoff_delay(3, rand=lambda: 0.0) == 0.0


def test_backoff_ceiling_is_capped():
    assert backoff_delay(50, rand=lambda: 0.999999) <= 300.0
    assert backoff_delay(10_000, rand=lambda: 1.0) == 300.0  # no overflow
    assert backoff_delay(5, base=2.0, cap=10.0, rand=lambda: 1.0) == 10.0


def test_backoff_never_waits_less_than_retry_after():
    assert backoff_delay(0, retry_after=30, rand=lambda: 0.0) == 30.0
    assert backoff_delay(10, retry_after=30, rand=lambda: 0.9) == pytest.approx(0.9 * 300)


def test_backoff_limits_retry_after_to_the_cap():
    assert backoff_delay(0, retry_after=3600, rand=lambda: 0.0) == 300.0


def test_backoff_ignores_missing_or_non_positive_retry_after():
    assert backoff_delay(1, retry_after=None, rand=lambda: 0.5) == 1.0
    assert backoff_delay(1, retry_after=0, rand=lambda: 0.5) == 1.0


def test_backoff_treats_negative_attempts_as_the_first():
    assert backoff_delay(-3, rand=lambda: 0.5) == 0.5


def test_backoff_uses_real_randomness_by_default():
    delays = {backoff_delay(4) for _ in range(20)}
    assert len(delays) > 1 and all(0 <= d < 16 for d in delays)


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("5", 5.0), ("1.5", 1.5), ("-3", 0.0), ("garbage", None),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
