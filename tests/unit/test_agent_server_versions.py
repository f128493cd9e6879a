"""The client's table of langgraph-api releases and the filtering it does where a server does not
(clients/agent_server_versions.py). Against real servers: tests/agent_server/test_versions.py."""

import pytest
from langgraph_cron.clients.agent_server_versions import (
    FEATURES,
    OLDEST_SUPPORTED,
    ServerFeatures,
    contains,
    matches,
    release_tuple,
)


@pytest.mark.parametrize("text, expected", [
    ("0.16.7", (0, 16, 7)), ("0.7.103", (0, 7, 103)), ("1.2", (1, 2, 0)), ("0.16.7rc1", (0, 16, 7)),
    (" 0.9.0 ", (0, 9, 0)), ("", None), (None, None), ("dev", None), ("v0.9", None),
])
def test_release_numbers(text, expected):
    assert release_tuple(text) == expected


def test_what_each_release_lacks():
    assert ServerFeatures.of("0.7.103").lacks == set(FEATURES)
    assert ServerFeatures.of("0.8.0").lacks == {"metadata_filter", "get_cron", "clear_end_time"}
    assert ServerFeatures.of("0.9.0").lacks == {"get_cron", "clear_end_time"}
    assert ServerFeatures.of("0.10.3").lacks == {"clear_end_time"}
    assert ServerFeatures.of("0.11.4").lacks == {"clear_end_time"}
    assert ServerFeatures.of("0.12.0").lacks == set()
    assert ServerFeatures.of("0.16.7").lacks == set()


def test_a_server_that_does_not_say_is_taken_to_have_everything_but_what_it_was_seen_to_lack():
    assert ServerFeatures.of(None).lacks == set()
    assert ServerFeatures.of("custom-build").lacks == set()
    assert ServerFeatures.of(None, evidence=frozenset({"get_cron"})).lacks == {"get_cron"}
    assert ServerFeatures.of("0.16.7", evidence=frozenset({"get_cron"})).lacks == {"get_cron"}


def test_supported_and_described():
    assert ServerFeatures.of(OLDEST_SUPPORTED).supported and ServerFeatures.of(None).supported
    old = ServerFeatures.of("0.6.39")
    assert not old.supported and old.describe().startswith(f"older than {OLDEST_SUPPORTED}")
    assert ServerFeatures.of("0.16.7").describe() == ""
    line = ServerFeatures.of("0.9.0").describe()
    assert "GET /runs/crons/{id}" in line and "pages through every cron" in line and "metadata filter" not in line


@pytest.mark.parametrize("value, wanted, expected", [
    ({"a": "x", "b": 1}, {"a": "x"}, True),
    ({"a": "x"}, {"a": "y"}, False),
    ({"a": "x"}, {"b": "x"}, False),
    ({"a": {"n": 1, "m": 2}}, {"a": {"n": 1}}, True),
    ({"a": {"n": 1}}, {"a": {"n": 2}}, False),
    ({"a": ["t1", "t2"]}, {"a": ["t2"]}, True),  # Postgres's @>: an array contains its elements
    ({"a": ["t1"]}, {"a": ["t1", "t2"]}, False),
    ({"a": 1}, {"a": True}, False),
    ({"a": True}, {"a": 1}, False),
    ({"a": 1}, {"a": 1.0}, True),
    ({"a": None}, {"a": None}, True),
    ({"a": {"n": 1}}, {"a": "x"}, False),
    ({}, {}, True),
])
def test_containment_as_postgres_reads_it(value, wanted, expected):
    assert contains(value, wanted) is expected


def test_a_cron_matches_every_filter_given():
    cron = {"cron_id": "c", "assistant_id": "a1", "thread_id": None, "metadata": {"lgcron.io/uid": "u"}}
    assert matches(cron, None, None, None)
    assert matches(cron, {"lgcron.io/uid": "u"}, "a1", None)
    assert not matches(cron, {"lgcron.io/uid": "v"}, None, None)
    assert not matches(cron, None, "a2", None)
    assert not matches(cron, None, None, "t1")
    assert not matches({**cron, "metadata": None}, {"lgcron.io/uid": "u"}, None, None)
    assert not matches("not a cron", None, None, None)
