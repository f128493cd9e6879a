"""LGCRON_ALLOWED_SERVER_URLS: which inline spec.server.url values the operator may call at all."""

import pytest
from langgraph_cron.core.settings import Settings, url_matches

OPERATOR = "https://agents.internal.example.com"


@pytest.mark.parametrize(("url", "pattern", "expected"), [
    ("https://a.example.com", "https://a.example.com", True),
    ("https://a.example.com/x", "https://a.example.com", True),
    ("https://A.Example.com/x", "https://a.example.com/", True),
    ("https://a.example.com/api/v2", "https://a.example.com/api", True),
    # A prefix matches at a path boundary only: no other host, port, path or scheme.
    ("https://a.example.com.evil.net", "https://a.example.com", False),
    ("https://a.example.com:8443", "https://a.example.com", False),
    ("https://a.example.com/apiX", "https://a.example.com/api", False),
    ("http://a.example.com", "https://a.example.com", False),
    # A host glob matches the host alone.
    ("https://team-a.agents.example.com", "*.agents.example.com", True),
    ("http://team-a.agents.example.com:8080/p", "*.agents.example.com", True),
    ("https://agents.example.com", "*.agents.example.com", False),
    ("https://agents.example.com.evil.net", "*.agents.example.com", False),
    # Never a URL with credentials or a malformed port.
    ("https://u:p@a.example.com", "https://a.example.com", False),
    ("https://a.example.com:bad", "*.example.com", False),
])
def test_url_patterns(url, pattern, expected):
    assert url_matches(url, pattern) is expected


def test_unset_allows_any_url_and_none_allows_only_the_operators():
    anything = Settings.from_env({"LGCRON_SERVER_URL": OPERATOR})
    assert anything.allowed_server_urls is None and anything.server_url_allowed("http://10.0.0.7:8123")
    nothing = Settings.from_env({"LGCRON_SERVER_URL": OPERATOR, "LGCRON_ALLOWED_SERVER_URLS": "none"})
    assert nothing.allowed_server_urls == []
    assert not nothing.server_url_allowed("https://a.example.com") and nothing.server_url_allowed(OPERATOR)


def test_a_list_allows_exactly_its_entries():
    settings = Settings.from_env({"LGCRON_ALLOWED_SERVER_URLS": " https://a.example.com/ , *.agents.example.com ,"})
    assert settings.allowed_server_urls == ["https://a.example.com/", "*.agents.example.com"]
    assert settings.server_url_allowed("https://a.example.com/x")
    assert settings.server_url_allowed("https://t.agents.example.com")
    assert not settings.server_url_allowed("http://169.254.169.254/latest/meta-data")
