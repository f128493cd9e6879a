"""engine/backends: the registry (no name branches elsewhere) and the write-ahead record that tells a
deletion whether a resource can have a cron at all."""

from langgraph_cron.core.models import LangGraphCronStatus
from langgraph_cron.core.objects import CronObject
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import Identity, InvalidSpec
from langgraph_cron.engine.backends import DEFAULT_BACKEND, Backend
from langgraph_cron.engine.backends.agent_server import AgentServerBackend
from langgraph_cron.engine.backends.cronjob import CronJobBackend
from langgraph_cron.engine.service import CronService

SPEC = {"schedule": "0 7 * * *", "assistantId": "agent"}


def service():
    return CronService(Settings(server_url="http://127.0.0.1:9", cluster_id="test"), None, None)


def cron(status=None, spec=SPEC, uid="u1"):
    return CronObject(identity=Identity(uid=uid, namespace="team", name="c", cluster="test"), generation=1,
                      raw_spec=dict(spec), status=status or LangGraphCronStatus())


def test_every_backend_of_the_model_is_registered_once():
    svc = service()
    names = [backend.name for backend in svc.backends]
    assert sorted(names) == ["agentServer", "cronJob"] and all(isinstance(b, Backend) for b in svc.backends)
    assert svc.backends[None].name == DEFAULT_BACKEND == "agentServer"
    assert [b.name for b in svc.backends.others(svc.backends["cronJob"])] == ["agentServer"]
    assert AgentServerBackend.batched_resync and not CronJobBackend.batched_resync


def test_a_failed_first_reconcile_of_a_resource_seen_first_records_that_no_create_was_sent():
    svc = service()
    svc.mark_pristine("u1")
    assert svc._create_sent(cron(), sent_now=False) is False
    assert service()._create_sent(cron(), sent_now=False) is None  # not seen first: not known
    assert svc._create_sent(cron(), sent_now=True) is True
    # Once known, a later failure keeps it; a cron id means a create was sent.
    assert service()._create_sent(cron(LangGraphCronStatus(create_sent=False)), sent_now=False) is False
    assert service()._create_sent(cron(LangGraphCronStatus(create_sent=True)), sent_now=False) is True


def test_a_resource_that_never_sent_a_create_has_no_cron_to_delete():
    backend = service().backends["agentServer"]
    assert isinstance(backend, AgentServerBackend)
    assert backend._may_have_server_crons(cron(LangGraphCronStatus(create_sent=False))) is False
    assert backend._may_have_server_crons(cron(LangGraphCronStatus())) is True  # unknown: search
    assert backend._may_have_server_crons(cron(LangGraphCronStatus(create_sent=False, cron_id="x"))) is True


async def test_a_held_deletion_says_how_to_release_it():
    svc = service()  # its default server does not answer
    result = await svc.finalize(cron(LangGraphCronStatus(cron_id="x", server_url="http://127.0.0.1:9")))
    message = result.status.conditions[0].message
    assert not result.done and "cannot delete the cron yet" in message
    assert "deletionPolicy: Orphan" in message and "http://127.0.0.1:9" in message
    assert any("deletionPolicy: Orphan" in event.message for event in result.events)
    await svc.aclose()


async def test_a_new_cronjob_resource_searches_no_server_and_needs_kubernetes():
    svc = service()  # its default server does not answer: a search would fail with ServerUnavailable
    svc.mark_pristine("u1")  # seen first: no agentServer cron can exist to retire
    result = await svc.reconcile(cron(spec={**SPEC, "backend": "cronJob"}))
    ready = result.status.conditions[0]
    assert ready.reason == InvalidSpec.reason and "needs the operator" in ready.message
    await svc.aclose()
