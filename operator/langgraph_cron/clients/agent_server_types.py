"""What the Agent Server returns (crons, runs) and how it fails, as the client reports them. Error
messages never contain an API key (clients/agent_server.py redacts them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Cron(BaseModel):
    """A cron as the server returns it; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    cron_id: str
    assistant_id: str | None = None
    thread_id: str | None = None
    schedule: str
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool = True
    payload: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    next_run_date: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    user_id: str | None = None
    on_run_completed: str | None = None


class Run(BaseModel):
    """A run as the server returns it; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    thread_id: str
    assistant_id: str | None = None
    status: str  # measured: pending, running, success, error, timeout, interrupted
    metadata: dict[str, Any] = {}
    multitask_strategy: str | None = None
    created_at: datetime | None = None


class AgentServerError(Exception):
    reason = "AgentServerError"

    def __init__(self, message: str, *, status_code: int | None = None, detail: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class Rejected(AgentServerError):
    """The server refused the request as invalid (400/422, other 4xx): retrying will not help."""
    reason = "Rejected"


class AssistantNotFound(AgentServerError):
    reason = "AssistantNotFound"


class ThreadNotFound(AgentServerError):
    reason = "ThreadNotFound"


class CronNotFound(AgentServerError):
    reason = "CronNotFound"


class Unauthorized(AgentServerError):
    reason = "Unauthorized"


class ServerUnavailable(AgentServerError):
    """Transient: 408/425/429/5xx, timeouts, connection errors, unreadable responses."""
    reason = "ServerUnavailable"


def error_for(status: int, detail: str, where: str, op: str, *, retry_after: float | None = None) -> AgentServerError:
    """The error of an HTTP error response to the request `where` (`op` says what it was for)."""
    message = f"{where}: HTTP {status}: {detail}"
    kwargs = dict(status_code=status, detail=detail)
    if status in (401, 403):
        return Unauthorized(message, **kwargs)
    if status == 404:
        if op == "create":
            return AssistantNotFound(message, **kwargs)
        if op == "create_for_thread":
            # The server checks the assistant first: "Assistant 'x' not found" vs
            # "Thread with ID 'y' not found. ..."
            if detail.lower().startswith("assistant"):
                return AssistantNotFound(message, **kwargs)
            return ThreadNotFound(message, **kwargs)
        if op == "cron":
            return CronNotFound(message, **kwargs)
    if status in (408, 425, 429) or status >= 500:
        return ServerUnavailable(message, retry_after=retry_after, **kwargs)
    return Rejected(message, **kwargs)
