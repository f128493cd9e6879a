"""Pydantic models of the LangGraphCron spec and status: the one source of the CRD schema.

`crd.py` turns these into `crds/langgraphcron.yaml`; a unit test fails when the two drift.
Field descriptions become `kubectl explain` text, so they are written for users.
Free-form user content (`input`, `metadata`, `context`, `config.configurable`) is typed as
plain dicts so it passes through untouched: only the field *names* are camelCase.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from langgraph_cron.core.rules import (
    SCHEDULE_RULES,
    SPEC_RULES,
    TIMEZONE_SHAPE,
    URL_RULES,
    URL_WITHOUT_CREDENTIALS,
    broken_rules,
    validations,
)
from langgraph_cron.core.schedule import validate_schedule

GROUP = "lgcron.io"
VERSION = "v1alpha1"
KIND = "LangGraphCron"
PLURAL = "langgraphcrons"
SINGULAR = "langgraphcron"
SHORT_NAMES = ["lgcron", "lgc"]
CATEGORIES = ["langgraph"]

# Metadata keys the operator owns on every cron it creates; users may not set them.
RESERVED_METADATA_PREFIX = "lgcron.io/"

# Bounds on free-form content. Size: the payload is stored with the cron and travels in every run
# request (and in the cronJob backend's CronJob, which etcd caps with its object at ~1.5 MiB).
# Depth: deep nesting is a classic parser-exhaustion input.
MAX_SPEC_BYTES = 128 * 1024
MAX_NESTING = 32


def nesting_depth(value: Any) -> int:
    """Depth of nested objects/arrays, iteratively: no RecursionError however deep the input."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_free_form(value: Any) -> Any:
    depth = nesting_depth(value)
    if depth > MAX_NESTING:
        raise ValueError(f"nested {depth} levels deep; at most {MAX_NESTING} are allowed")
    return value


# Upper bounds on strings: what a Kubernetes name or a URL can be, and what lets the CRD's CEL rules
# stay within the apiserver's cost budget (a regular expression's cost grows with the string's bound).
MAX_NAME = 253
MAX_URL = 2048
MAX_SCHEDULE = 256
MAX_TIMEZONE = 64
MAX_ASSISTANT = 256

_CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")

# Marks free-form fields for crd.py: the CRD keeps whatever the user wrote there.
PRESERVE_UNKNOWN = {"x-kubernetes-preserve-unknown-fields": True}

MultitaskStrategy = Literal["reject", "rollback", "interrupt", "enqueue"]
StreamModeName = Literal[
    "values", "messages", "messages-tuple", "tasks", "checkpoints", "updates", "events", "debug", "custom"
]
Durability = Literal["sync", "async", "exit"]
OnRunCompleted = Literal["delete", "keep"]
DeletionPolicy = Literal["Delete", "Orphan"]
Backend = Literal["agentServer", "cronJob"]


class CamelModel(BaseModel):
    """camelCase on the wire (Kubernetes style), snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SecretKeyRef(CamelModel):
    name: str = Field(
        min_length=1, max_length=MAX_NAME, description="Name of a Secret in the same namespace as this resource."
    )
    key: str = Field(
        min_length=1, max_length=MAX_NAME, description="Key inside the Secret whose value is the Agent Server API key."
    )


def reject_credentials(url: str) -> None:
    """A URL is shown as given (status.serverUrl, logs, Events): a password in it would be published.

    Keys belong in a Secret (server.apiKeySecretRef). The message does not quote the URL.
    """
    if URL_WITHOUT_CREDENTIALS.broken(url):
        raise ValueError(URL_WITHOUT_CREDENTIALS.message)


def check_url(value: str) -> str:
    """An Agent Server URL: the CRD's rules first (same words as the apiserver), then what only Python
    can check. The message does not quote a URL that may carry a password."""
    for rule in URL_RULES:
        if rule.broken(value):
            raise ValueError(rule.message)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"{value!r} contains control characters")
    parsed = urlsplit(value)
    try:
        port = parsed.port  # raises for a port outside 0-65535
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    if not parsed.hostname:
        raise ValueError(f"{value!r} is not a URL with a host, e.g. https://my-deployment.example.com")
    if port == 0:
        raise ValueError(f"{value!r} has an invalid port")
    return value


class ServerRef(CamelModel):
    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=MAX_URL,
        json_schema_extra=validations(*URL_RULES),
        description=(
            "Base URL of the LangGraph Agent Server, e.g. https://my-deployment.example.com, without "
            "credentials (user:password@ is refused; the key goes in apiKeySecretRef). "
            "Defaults to the operator-wide LGCRON_SERVER_URL. A URL named here gets only the key of "
            "apiKeySecretRef, never the operator's, and must be allowed by the operator's "
            "LGCRON_ALLOWED_SERVER_URLS (else Ready=False, reason ServerNotAllowed, and no request)."
        ),
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            "Secret in this resource's namespace holding the API key, sent as the x-api-key header to "
            "this resource's server only. Without it, a resource naming no url uses the operator-wide "
            "key (LGCRON_API_KEY / LGCRON_API_KEY_SECRET); a resource naming a url sends no key."
        ),
    )


    @field_validator("url")
    @classmethod
    def _url_is_valid(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)


ServerKind = Literal["LangGraphServer", "ClusterLangGraphServer"]
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class ServerObjectRef(CamelModel):
    """A reference by name to a server object: the admin binds URL and key there, the cron only names it."""

    kind: ServerKind = Field(
        default="LangGraphServer",
        description="LangGraphServer (in this resource's namespace) or ClusterLangGraphServer.",
    )
    name: str = Field(
        min_length=1, max_length=MAX_NAME, pattern=_DNS_SUBDOMAIN, description="Name of the server object."
    )

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class RunConfig(CamelModel):
    tags: list[str] | None = Field(default=None, description="Tags attached to each run.")
    recursion_limit: int | None = Field(default=None, ge=1, description="Maximum number of graph steps per run.")
    configurable: dict[str, Any] | None = Field(
        default=None,
        description="Free-form configurable values passed to the graph, unchanged.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )

    @field_validator("configurable")
    @classmethod
    def _configurable_is_bounded(cls, value: Any) -> Any:
        return check_free_form(value)


ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]


class CronJobOptions(CamelModel):
    """Overrides for the Kubernetes CronJob of the cronJob backend; every field has a default."""

    concurrency_policy: ConcurrencyPolicy = Field(
        default="Forbid", description="What to do when a run is still going at the next schedule."
    )
    starting_deadline_seconds: int = Field(
        default=300, ge=0, description="A run that could not start within this many seconds is skipped."
    )
    successful_jobs_history_limit: int = Field(default=3, ge=0, description="Finished Jobs to keep.")
    failed_jobs_history_limit: int = Field(default=1, ge=0, description="Failed Jobs to keep.")
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Seconds a run's Job may take before Kubernetes stops it."
    )
    image: str | None = Field(
        default=None, min_length=1, description="Image running `lgcron invoke`; defaults to the operator's own."
    )
    image_pull_policy: PullPolicy | None = Field(default=None, description="Pull policy of that image.")
    resources: dict[str, Any] | None = Field(
        default=None,
        description="Container resources (requests/limits), as in a Pod spec.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    service_account_name: str | None = Field(
        default=None, min_length=1, max_length=MAX_NAME, description="Service account of the run's Pod."
    )
    pod_labels: dict[str, str] | None = Field(default=None, description="Extra labels on the run's Pod.")
    pod_annotations: dict[str, str] | None = Field(default=None, description="Extra annotations on the run's Pod.")


class RunHistoryOptions(CamelModel):
    """How many finished runs of a cron stay observable, as a CronJob keeps its Jobs."""

    successful_runs_limit: int = Field(default=3, ge=0, le=100, description="Succeeded runs to keep.")
    failed_runs_limit: int = Field(default=1, ge=0, le=100, description="Failed runs to keep.")

    @property
    def enabled(self) -> bool:
        return self.successful_runs_limit > 0 or self.failed_runs_limit > 0


class FailurePolicy(CamelModel):
    pause_after_consecutive_failures: int | None = Field(
        default=None, ge=1, le=1000,
        description=(
            "Pause the cron (disable it on its backend, spec unchanged) after this many failed runs in a row. "
            "It resumes only when a person acts: a spec change, a new lgcron.io/resume annotation value, or "
            "`lgcron resume`. Off by default."
        ),
    )


class LangGraphCronSpec(CamelModel):
    model_config = ConfigDict(json_schema_extra=validations(*SPEC_RULES))

    schedule: str = Field(
        min_length=1,
        max_length=MAX_SCHEDULE,
        json_schema_extra=validations(*SCHEDULE_RULES),
        description=(
            "Cron expression: five fields (minute hour day-of-month month day-of-week), an optional "
            "sixth seconds field, or a macro such as @hourly. Interpreted in spec.timezone. An H in the "
            "minute or hour field (H, H/15, H(0-29), H(0-29)/10) spreads crons: it becomes a value derived "
            "from a stable hash of namespace/name (status.effectiveSchedule shows the result)."
        ),
    )
    timezone: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TIMEZONE,
        json_schema_extra=validations(TIMEZONE_SHAPE),
        description="IANA timezone of the schedule, e.g. Europe/Berlin. Defaults to UTC.",
    )
    assistant_id: str = Field(
        min_length=1,
        max_length=MAX_ASSISTANT,
        description="Assistant UUID, or a graph name meaning the graph's default assistant.",
    )
    thread_id: str | None = Field(
        default=None,
        description=(
            "Thread UUID. When set, every run goes to this one thread (a thread cron); "
            "otherwise each run gets a new thread (a stateless cron)."
        ),
        json_schema_extra={"format": "uuid"},
    )
    input: dict[str, Any] | list[dict[str, Any]] | None = Field(
        default=None,
        description="Input of each run: an object or a list of objects, passed unchanged. Defaults to {}.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Metadata of the cron and its runs, passed unchanged. Keys under lgcron.io/ are reserved.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    config: RunConfig | None = Field(default=None, description="Run configuration: tags, recursionLimit, configurable.")
    context: dict[str, Any] | None = Field(
        default=None, description="Static context of each run, passed unchanged.", json_schema_extra=PRESERVE_UNKNOWN
    )
    webhook: str | None = Field(
        default=None, min_length=1, max_length=65536, description="URL called after each run completes."
    )
    interrupt_before: Literal["*"] | list[str] | None = Field(
        default=None,
        description='Nodes to interrupt before they run: "*" for all, or a list of node names.',
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    interrupt_after: Literal["*"] | list[str] | None = Field(
        default=None,
        description='Nodes to interrupt after they run: "*" for all, or a list of node names.',
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    multitask_strategy: MultitaskStrategy | None = Field(
        default=None, description="What to do when a run is already in flight on the thread."
    )
    enabled: bool = Field(default=True, description="false suspends the cron without deleting it.")
    end_time: datetime | None = Field(
        default=None,
        description="RFC 3339 time after which the cron stops firing; the operator then disables it (reason Expired).",
    )
    on_run_completed: OnRunCompleted | None = Field(
        default=None, description="Stateless crons only: delete or keep each run's thread after the run."
    )
    stream_mode: StreamModeName | list[StreamModeName] | None = Field(
        default=None, description="Stream mode, or a list of them.", json_schema_extra=PRESERVE_UNKNOWN
    )
    stream_subgraphs: bool | None = Field(default=None, description="Stream output from subgraphs too.")
    stream_resumable: bool | None = Field(default=None, description="Persist stream chunks so a stream can resume.")
    durability: Durability | None = Field(default=None, description="Checkpoint durability of each run.")
    server: ServerRef | None = Field(
        default=None,
        description=(
            "Inline Agent Server URL and API key Secret. Mutually exclusive with serverRef; on a shared "
            "cluster prefer serverRef to a server object an admin set up."
        ),
    )
    server_ref: ServerObjectRef | None = Field(
        default=None,
        description=(
            "A LangGraphServer in this namespace or a ClusterLangGraphServer that allows this namespace: "
            "the Agent Server and key that hold the cron. Mutually exclusive with server."
        ),
    )
    run_history: RunHistoryOptions | None = Field(
        default=None,
        description=(
            "Run history (on by default, 3 succeeded and 1 failed run): the operator keeps the threads of "
            "stateless runs (onRunCompleted: keep, unless set) and prunes them beyond these limits itself, "
            "so status, Events and metrics can say whether runs happened and succeeded. Both limits 0: off."
        ),
    )
    failure_policy: FailurePolicy | None = Field(default=None, description="What to do about failing runs.")
    max_runs: int | None = Field(
        default=None, ge=1,
        description=(
            "Run budget: after this many counted runs (scheduled and triggered alike: each costs the same) the "
            "cron is disabled (reason RunBudgetExhausted). Raising it re-enables the cron. With endTime, "
            "whichever comes first stops it."
        ),
    )
    run_timeout_seconds: int | None = Field(
        default=None, ge=1,
        description=(
            "A run still going after this many seconds is cancelled on the server and counted TimedOut (a "
            "failure for failurePolicy). cronJob backend: the Job's activeDeadlineSeconds."
        ),
    )
    deletion_policy: DeletionPolicy = Field(
        default="Delete",
        description="Delete removes the cron when this resource is deleted; Orphan leaves it on the server.",
    )
    backend: Backend = Field(
        default="agentServer",
        description=(
            "agentServer keeps a cron record on the Agent Server; cronJob keeps a Kubernetes CronJob whose "
            "Pods invoke each run (for servers without crons, or to see runs as Jobs)."
        ),
    )
    cron_job: CronJobOptions | None = Field(
        default=None, description="CronJob settings, used only by the cronJob backend."
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_is_a_cron_expression(cls, value: str) -> str:
        for rule in SCHEDULE_RULES:  # the CRD's words first, so kubectl and the condition agree
            if rule.broken(value):
                raise ValueError(rule.message)
        validate_schedule(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_iana(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if TIMEZONE_SHAPE.broken(value):
            raise ValueError(TIMEZONE_SHAPE.message)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, KeyError):
            raise ValueError(f"unknown IANA timezone {value!r} (example: Europe/Berlin)") from None
        return value

    @field_validator("thread_id")
    @classmethod
    def _thread_id_is_uuid(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a UUID") from None

    @field_validator("end_time")
    @classmethod
    def _end_time_is_aware(cls, value: datetime | None) -> datetime | None:
        # RFC 3339 requires an offset; a bare time is read as UTC rather than the operator's local zone.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @field_validator("input", "context", "metadata")
    @classmethod
    def _free_form_content_is_bounded(cls, value: Any) -> Any:
        return check_free_form(value)

    @field_validator("thread_id", mode="before")
    @classmethod
    def _thread_id_is_canonical(cls, value: Any) -> Any:
        # The CRD's `format: uuid` takes only the plain 8-4-4-4-12 form; uuid.UUID() would also read
        # urn:uuid:... and {...}, which kubectl apply refuses.
        if isinstance(value, str) and not _CANONICAL_UUID.match(value):
            raise ValueError(f"{value!r} is not a UUID (8-4-4-4-12 hex digits)")
        return value

    @field_validator("end_time", mode="before")
    @classmethod
    def _end_time_is_rfc3339(cls, value: Any) -> Any:
        # pydantic reads "1700000000" as a Unix time; the CRD's `format: date-time` does not.
        if isinstance(value, str):
            if not _RFC3339.match(value):
                raise ValueError(f"{value!r} is not an RFC 3339 date-time, e.g. 2026-12-31T23:00:00Z")
            # Parsed here: after a before-validator, strict mode takes no string for a datetime.
            return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_keeps_out_of_reserved_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        reserved = sorted(k for k in value or {} if k.startswith(RESERVED_METADATA_PREFIX))
        if reserved:
            raise ValueError(f"keys {reserved} are reserved for the operator (prefix {RESERVED_METADATA_PREFIX})")
        return value


    @model_validator(mode="after")
    def _rules_across_fields_hold(self) -> LangGraphCronSpec:
        problems = broken_rules(SPEC_RULES, self, "spec")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def history(self) -> RunHistoryOptions:
        return self.run_history or RunHistoryOptions()

    @property
    def is_thread_cron(self) -> bool:
        return self.thread_id is not None

    def is_expired(self, now: datetime) -> bool:
        return self.end_time is not None and self.end_time <= now


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(CamelModel):
    type: str = Field(description="Ready, Reconciling or Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="One-word CamelCase cause, e.g. Scheduled or ServerUnavailable.")
    message: str = Field(default="", description="Human-readable detail.")
    observed_generation: int | None = Field(default=None, description="metadata.generation this condition is about.")
    last_transition_time: str | None = Field(default=None, description="When status last changed (RFC 3339).")


RunResult = Literal["Running", "Succeeded", "Failed", "TimedOut"]


class LastRun(CamelModel):
    run_id: str | None = Field(default=None, description="agentServer backend: the run's id, when known.")
    thread_id: str | None = Field(default=None, description="agentServer backend: the run's thread.")
    job_name: str | None = Field(default=None, description="cronJob backend: the Job's name.")
    result: RunResult = Field(description="Running, Succeeded, Failed or TimedOut.")
    start_time: str | None = Field(default=None, description="When the run started (RFC 3339).")
    completion_time: str | None = Field(default=None, description="When the run finished (RFC 3339).")
    error: str | None = Field(default=None, description="Failed runs: one line of the error, bounded in length.")


class ActiveRun(CamelModel):
    run_id: str | None = Field(default=None, description="The run's id, when known.")
    thread_id: str | None = Field(default=None, description="The run's thread.")
    job_name: str | None = Field(default=None, description="cronJob backend: the Job's name.")
    start_time: str | None = Field(default=None, description="When it started (RFC 3339).")


class RunCursor(CamelModel):
    """Where counting stopped: every finished run started before `time` is counted, and so are the
    runs in `counted` (started at or after it: a tie, or finished while an older run was still going)."""

    time: str | None = Field(default=None, description="Runs started before this time are counted (RFC 3339).")
    counted: list[str] | None = Field(default=None, description="Runs started at or after `time` already counted.")


class RunCounters(CamelModel):
    succeeded: int = Field(default=0, ge=0, description="Runs that succeeded, counted once each.")
    failed: int = Field(default=0, ge=0, description="Runs that failed or timed out, counted once each.")
    consecutive_failures: int = Field(default=0, ge=0, description="Failed runs since the last success.")
    remaining: int | None = Field(default=None, ge=0, description="spec.maxRuns minus the runs counted so far.")
    last_error: str | None = Field(default=None, description="The error line of the newest failed run.")
    cursor: RunCursor | None = Field(default=None, description="Where counting stopped (survives restarts).")
    timed_out: list[str] | None = Field(
        default=None, description="Runs cancelled for spec.runTimeoutSeconds, still kept by the backend."
    )


class PauseState(CamelModel):
    since: str = Field(description="When the cron was paused (RFC 3339).")
    consecutive_failures: int = Field(description="Failed runs in a row that paused it.")
    last_error: str | None = Field(default=None, description="The last failed run's error line.")
    generation: int | None = Field(default=None, description="metadata.generation when it was paused.")


class TriggerState(CamelModel):
    value: str = Field(description="The lgcron.io/trigger value handled last.")
    time: str | None = Field(default=None, description="When it was handled (RFC 3339).")
    run_id: str | None = Field(default=None, description="The run it started.")
    thread_id: str | None = Field(default=None, description="That run's thread.")
    job_name: str | None = Field(default=None, description="cronJob backend: the Job it created.")
    refused: str | None = Field(default=None, description="Why no run was started, if none was.")


class LangGraphCronStatus(CamelModel):
    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(default=None, description="metadata.generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling and Stalled, following Kubernetes and kstatus conventions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    cron_id: str | None = Field(default=None, description="ID of the cron record on the Agent Server.")
    server_url: str | None = Field(default=None, description="Agent Server that holds the cron.")
    server_ref: ServerObjectRef | None = Field(
        default=None,
        description="The server object the cron at serverUrl was made through (its key deletes the cron there).",
    )
    thread_id: str | None = Field(default=None, description="Thread of a thread cron.")
    assistant_id: str | None = Field(default=None, description="Assistant UUID the server resolved.")
    effective_schedule: str | None = Field(
        default=None, description="The schedule sent to the backend: spec.schedule with any H expanded."
    )
    next_run_date: str | None = Field(default=None, description="Next run time reported by the server (RFC 3339).")
    upcoming_runs: list[str] | None = Field(default=None, description="The next three run times (RFC 3339, UTC).")
    last_sync_time: str | None = Field(default=None, description="When the cron was last confirmed in sync.")
    create_sent: bool | None = Field(
        default=None,
        description=(
            "Write-ahead record of create requests: false while no request to create a cron was ever sent for "
            "this resource (its deletion then needs no server); set true before the first one is sent. "
            "Absent: not known (a deletion searches the server)."
        ),
    )
    backend: Backend | None = Field(default=None, description="The backend that holds the cron now.")
    cron_job_name: str | None = Field(default=None, description="cronJob backend: the CronJob's name.")
    last_schedule_time: str | None = Field(default=None, description="When a run (or Job) last started.")
    last_successful_time: str | None = Field(default=None, description="When a run last completed successfully.")
    last_failure_time: str | None = Field(default=None, description="When a run last failed (RFC 3339).")
    last_run: LastRun | None = Field(default=None, description="The newest run (or Job): its result and times.")
    active_runs: list[ActiveRun] | None = Field(default=None, description="Runs in progress.")
    runs: RunCounters | None = Field(default=None, description="Run counters and the counting cursor.")
    paused: PauseState | None = Field(
        default=None, description="Set while failurePolicy has paused the cron; a person resumes it."
    )
    last_trigger: TriggerState | None = Field(default=None, description="The last lgcron.io/trigger handled.")
    last_resume: str | None = Field(default=None, description="The last lgcron.io/resume value handled.")
    kopf: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The operator's bookkeeping: handledDigest (a digest of the spec, labels and annotations last "
            "handled, how an edit is told from a restart) and the progress of handlers being retried."
        ),
        json_schema_extra=PRESERVE_UNKNOWN,
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as `format_time` writes it (or with an offset), timezone-aware."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix, the form Kubernetes itself writes."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- server objects
# LangGraphServer (namespaced) and ClusterLangGraphServer (cluster-scoped) bind an Agent Server URL
# to its credential in one object an admin owns; crons refer to them by name (spec.serverRef).

SERVER_KIND = "LangGraphServer"
SERVER_PLURAL = "langgraphservers"
SERVER_SINGULAR = "langgraphserver"
SERVER_SHORT_NAMES = ["lgs"]
CLUSTER_SERVER_KIND = "ClusterLangGraphServer"
CLUSTER_SERVER_PLURAL = "clusterlanggraphservers"
CLUSTER_SERVER_SINGULAR = "clusterlanggraphserver"
CLUSTER_SERVER_SHORT_NAMES = ["clgs"]
MAX_SERVER_CONCURRENCY = 256
MAX_REQUEST_TIMEOUT_SECONDS = 300




class ClusterSecretKeyRef(SecretKeyRef):
    name: str = Field(min_length=1, max_length=MAX_NAME, description="Name of the Secret.")
    namespace: str = Field(
        min_length=1, max_length=MAX_NAME, description="Namespace of the Secret (where the admin keeps it)."
    )


class CaBundleRef(CamelModel):
    kind: Literal["ConfigMap", "Secret"] = Field(description="ConfigMap or Secret holding the PEM bundle.")
    name: str = Field(min_length=1, max_length=MAX_NAME, description="Its name, in this object's namespace.")
    key: str = Field(min_length=1, max_length=MAX_NAME, description="The key whose value is the PEM bundle.")


class ClusterCaBundleRef(CaBundleRef):
    name: str = Field(min_length=1, max_length=MAX_NAME, description="Its name.")
    namespace: str = Field(min_length=1, max_length=MAX_NAME, description="Its namespace.")


class LabelSelectorRequirement(CamelModel):
    key: str = Field(min_length=1, description="Label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[str] | None = Field(default=None, description="Values for In and NotIn.")


class LabelSelector(CamelModel):
    match_labels: dict[str, str] | None = Field(default=None, description="Labels a namespace must all carry.")
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, description="Requirements a namespace's labels must all meet."
    )


class NamespaceCondition(CamelModel):
    """One entry of ClusterLangGraphServer.spec.conditions: a namespace matching any field matches the entry."""

    namespaces: list[str] | None = Field(default=None, description="Namespaces allowed by name.")
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces allowed by label (needs the operator's read access to namespaces)."
    )
    namespace_regexes: list[str] | None = Field(
        default=None, description="Namespaces allowed by a regular expression matched against the whole name."
    )

    @field_validator("namespace_regexes")
    @classmethod
    def _regexes_compile(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value


class _ServerSpecBase(CamelModel):
    url: str = Field(
        pattern=r"^https?://",
        max_length=MAX_URL,
        json_schema_extra=validations(*URL_RULES),
        description="Base URL of the LangGraph Agent Server, without credentials. Its key is sent only here.",
    )
    ca_bundle: str | None = Field(
        default=None, min_length=1, description="PEM CA certificates that verify the server's TLS certificate."
    )
    request_timeout_seconds: float | None = Field(
        default=None, gt=0, le=MAX_REQUEST_TIMEOUT_SECONDS,
        description="Seconds one request may take (default: the operator's LGCRON_REQUEST_TIMEOUT).",
    )
    max_concurrent_requests: int | None = Field(
        default=None, ge=1, le=MAX_SERVER_CONCURRENCY,
        description="Requests in flight to this server at most (default: the operator's LGCRON_SERVER_CONCURRENCY).",
    )

    @field_validator("url")
    @classmethod
    def _url_is_valid(cls, value: str) -> str:
        return check_url(value)


class LangGraphServerSpec(_ServerSpecBase):
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret in this object's namespace holding the API key, sent as x-api-key to url only.",
    )
    ca_bundle_ref: CaBundleRef | None = Field(
        default=None, description="A ConfigMap or Secret key in this namespace holding the PEM CA bundle."
    )


class ClusterLangGraphServerSpec(_ServerSpecBase):
    api_key_secret_ref: ClusterSecretKeyRef | None = Field(
        default=None, description="Secret (with its namespace) holding the API key, sent as x-api-key to url only."
    )
    ca_bundle_ref: ClusterCaBundleRef | None = Field(
        default=None, description="A ConfigMap or Secret key (with its namespace) holding the PEM CA bundle."
    )
    conditions: list[NamespaceCondition] | None = Field(
        default=None,
        description=(
            "Which namespaces' LangGraphCrons may use this server: a namespace may when any entry matches it. "
            "Empty or unset: no namespace may (allow all explicitly with namespaceRegexes: ['.*'])."
        ),
    )


class LangGraphServerStatus(CamelModel):
    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(default=None, description="metadata.generation last checked.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready: the server answered GET /ok and an authenticated request with this object's key.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    url: str | None = Field(default=None, description="The URL last checked (the one crons are moved to).")
    bound_urls: list[str] | None = Field(
        default=None,
        description="URLs this object's key was bound to, newest first: crons left there are deleted with it.",
    )
    server_version: str | None = Field(default=None, description="Version the server reports at GET /info.")
    cron_count: int | None = Field(default=None, description="Crons of this cluster on the server at the last check.")
    in_use_by: int | None = Field(default=None, description="LangGraphCrons that refer to this object.")
    last_check_time: str | None = Field(default=None, description="When the server was last checked (RFC 3339).")
    kopf: dict[str, Any] | None = Field(
        default=None, description="The operator's bookkeeping.", json_schema_extra=PRESERVE_UNKNOWN
    )

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)
