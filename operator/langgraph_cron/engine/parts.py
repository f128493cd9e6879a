"""The engine's shared parts, built once and handed to the coordinator, the backends and the passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from langgraph_cron.core.settings import Settings
from langgraph_cron.engine.connector import Connector, SecretReader
from langgraph_cron.engine.memory import Memory


class KubeApi(SecretReader, Protocol):
    """What the engine needs from Kubernetes (clients.kube.KubeClient in the operator): the connector's
    Secret reads, and the cronJob backend's objects."""

    async def get_cronjob(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_cronjob(self, cronjob: dict[str, Any]) -> dict[str, Any]: ...
    async def patch_cronjob(self, namespace: str, name: str, merge_patch: dict[str, Any]) -> dict[str, Any] | None: ...
    async def delete_cronjob(self, namespace: str, name: str) -> None: ...
    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...
    async def create_job(self, job: dict[str, Any]) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Parts:
    settings: Settings
    connector: Connector
    # None when reconciling files without Kubernetes (no Secrets, no cronJob backend).
    kube: KubeApi | None
    memory: Memory
    clock: Callable[[], datetime] = utc_now
    # Whether run history prunes the threads of old runs (the operator); `lgcron apply` has no one to.
    prunes_history: bool = True
