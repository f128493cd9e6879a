"""engine/connector.py: the one way from a resource to an Agent Server client. Which key goes where,
the CA, the timeout and the concurrency gate of a server object, the client cache."""

import asyncio

import pytest
from langgraph_cron.clients.kube import SecretNotFound
from langgraph_cron.core.connections import CaLocation, Connection, SecretLocation
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import InvalidSpec, parse_spec
from langgraph_cron.engine.connector import Connector

DEFAULT = "https://agents.example.com"


class Secrets:
    def __init__(self, values):
        self.values = dict(values)
        self.reads = []

    async def read_secret_value(self, namespace, name, key):
        self.reads.append((namespace, name, key))
        if (namespace, name, key) not in self.values:
            raise SecretNotFound(f"Secret {namespace}/{name} has no key {key!r}")
        return self.values[(namespace, name, key)]

    async def read_configmap_value(self, namespace, name, key):
        return self.values[("cm", namespace, name, key)]


def connector(kube=None, **settings):
    return Connector(Settings(server_url=DEFAULT, api_key="sk-operator", **settings), kube=kube)


async def test_the_operator_key_goes_only_to_the_default_server():
    conn = connector()
    default = conn.resolve(parse_spec({"schedule": "* * * * *", "assistantId": "a"}), "team")
    inline = conn.resolve(parse_spec({"schedule": "* * * * *", "assistantId": "a",
                                      "server": {"url": "https://tenant.example.com"}}), "team")
    assert await conn.api_key(default) == "sk-operator"
    assert await conn.api_key(inline) is None
    # A URL some resource used before gets the operator's key only when it is the default server.
    assert await conn.api_key(conn.bound("https://elsewhere.example.com", None, "team", None)) is None
    assert await conn.api_key(conn.bound(DEFAULT, None, "team", None)) == "sk-operator"
    await conn.aclose()


async def test_a_secret_key_is_read_each_time_and_the_last_one_kept_only_for_deletions():
    kube = Secrets({("team", "s", "apiKey"): "sk-team"})
    conn = connector(kube)
    bound = Connection(url="https://tenant.example.com", secret=SecretLocation("team", "s", "apiKey"))
    assert await conn.api_key(bound) == "sk-team"
    del kube.values[("team", "s", "apiKey")]
    with pytest.raises(SecretNotFound):
        await conn.api_key(bound)
    assert await conn.api_key(bound, allow_last_known=True) == "sk-team"
    assert len(kube.reads) == 3
    await conn.aclose()


async def test_clients_are_kept_per_url_key_ca_and_timeout_and_share_a_gate_per_url():
    conn = connector()
    plain = Connection(url="https://a.example.com")
    first, again = conn.client(plain, "k1"), conn.client(plain, "k1")
    other_key = conn.client(plain, "k2")
    slow = conn.client(Connection(url="https://a.example.com", timeout=90.0), "k1")
    assert first is again and first is not other_key and slow is not first
    assert first._gate is other_key._gate is slow._gate  # one gate per URL, whatever the key
    await conn.aclose()


async def test_a_server_objects_concurrency_sizes_its_gate():
    conn = connector(server_concurrency=10)
    narrow = conn.client(Connection(url="https://a.example.com", max_concurrency=2), None)
    gate = narrow._gate
    assert isinstance(gate, asyncio.Semaphore) and gate._value == 2
    assert conn.client(Connection(url="https://b.example.com"), None)._gate._value == 10
    await conn.aclose()


async def test_a_ca_bundle_ref_is_read_through_kubernetes_and_a_bad_one_is_invalid():
    kube = Secrets({("cm", "team", "ca", "ca.crt"): "not a certificate"})
    conn = connector(kube)
    with_ref = Connection(url="https://a.example.com", ca_bundle_ref=CaLocation("ConfigMap", "team", "ca", "ca.crt"))
    assert await conn.ca_bundle(with_ref) == "not a certificate"
    with pytest.raises(InvalidSpec, match="caBundle: not a PEM CA certificate bundle"):
        await conn.client_for(with_ref)
    await conn.aclose()
