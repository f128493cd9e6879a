"""
A tiny kopf operator for LangGraphCrons that exercises what the test fixtures must support:
status writes, a finalizer (there is a delete handler), a timer and Events.

It writes only status fields that the real CRD's schema keeps, so it works on a real cluster too.
Its handlers live in their own registry, so operators run by other tests never pick them up:
``run_operator(registry=sample_operator.registry)``.
"""
import datetime
from typing import Any

import kopf

RESOURCE = ("lgcron.io", "v1alpha1", "langgraphcrons")
TIMER_INTERVAL = 2.0

registry = kopf.OperatorRegistry()
deleted_names: set[str] = set()  # 'namespace/name'; the operator runs in the test's process


@kopf.on.login(registry=registry)  # only kopf's default registry brings the default logins
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


@kopf.on.startup(registry=registry)
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = "sample.lgcron.io/finalizer"
    # kopf's default keeps progress in status too, which the CRD's strict status schema would prune.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="sample.lgcron.io")


@kopf.on.create(*RESOURCE, registry=registry)
def created(body: kopf.Body, spec: kopf.Spec, meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    patch.status["assistantId"] = spec["assistantId"]
    patch.status["observedGeneration"] = meta["generation"]
    kopf.event(body, type="Normal", reason="SampleCreated", message=f"schedule {spec['schedule']}")


@kopf.on.update(*RESOURCE, field="spec", registry=registry)
def updated(spec: kopf.Spec, meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    patch.status["assistantId"] = spec["assistantId"]
    patch.status["observedGeneration"] = meta["generation"]


@kopf.on.delete(*RESOURCE, registry=registry)
def deleted(namespace: str, name: str, **_: Any) -> None:
    deleted_names.add(f"{namespace}/{name}")


# Objects labelled NO_TIMER get no timer: 200 of them would patch their status 100 times a second,
# which measures the apiserver's write capacity instead of the fixtures.
NO_TIMER = "sample.lgcron.io/no-timer"


@kopf.timer(*RESOURCE, interval=TIMER_INTERVAL, labels={NO_TIMER: kopf.ABSENT}, registry=registry)
def tick(patch: kopf.Patch, **_: Any) -> None:
    patch.status["lastSyncTime"] = datetime.datetime.now(datetime.UTC).isoformat()
