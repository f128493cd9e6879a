"""engine/memory.py: one memory per resource, with one forget."""

from datetime import UTC, datetime

from langgraph_cron.core.connections import Connection, ServerKey
from langgraph_cron.engine.memory import Fingerprint, Memory

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def fingerprint(via=None):
    return Fingerprint("1", Connection(url="https://a.example.com", via=via), "cron", "digest", NOW)


def test_forget_drops_everything_about_a_resource():
    memory = Memory()
    memory.mark_pristine("u1")
    memory.remember_sole_cron("u1", "https://a.example.com", "cron")
    memory.set_fingerprint("u1", fingerprint())
    memory.of("u1").due = NOW
    memory.forget("u1")
    assert memory.get("u1") is None and not memory.is_pristine("u1") and memory.sole_cron("u1") is None
    assert memory.fingerprint("u1") is None and len(memory) == 0


def test_the_pristine_mark_is_taken_once():
    memory = Memory()
    memory.mark_pristine("u1")
    assert memory.take_pristine("u1") is True and memory.take_pristine("u1") is False
    assert memory.take_pristine("never-seen") is False


def test_sole_crons_are_not_kept_where_another_replica_may_act():
    memory = Memory()
    memory.remember_sole_crons = False
    memory.remember_sole_cron("u1", "https://a.example.com", "cron")
    assert memory.sole_cron("u1") is None


def test_keep_only_drops_the_dead_but_not_what_a_reconcile_holds():
    memory = Memory()
    for uid in ("live", "dead", "busy"):
        memory.mark_pristine(uid)
    memory.lock("busy")._locked = True  # a reconcile of it is under way
    memory.keep_only({"live"})
    assert set(memory) == {"live", "busy"}


def test_a_server_objects_change_drops_only_the_fingerprints_made_through_it():
    memory = Memory()
    key = ServerKey("LangGraphServer", "team", "s")
    memory.set_fingerprint("through", fingerprint(via=key))
    memory.set_fingerprint("other", fingerprint())
    memory.drop_fingerprints_via(key)
    assert memory.fingerprint("through") is None and memory.fingerprint("other") is not None
