"""File mode (`lgcron apply`, `lgcron delete`, `lgcron demo`): LangGraphCron documents reconciled
through the same service the operator runs, without Kubernetes."""

from __future__ import annotations

from langgraph_cron.core.files import Document, cron_object
from langgraph_cron.core.objects import Result
from langgraph_cron.engine.service import CronService


async def apply(service: CronService, documents: list[Document]) -> list[tuple[Document, Result]]:
    return [(document, await service.reconcile(cron_object(document))) for document in documents]


async def delete(service: CronService, documents: list[Document]) -> list[tuple[Document, Result]]:
    return [(document, await service.finalize(cron_object(document))) for document in documents]
