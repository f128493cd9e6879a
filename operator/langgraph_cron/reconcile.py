"""Pure reconcile decisions: the desired cron, its diff against the observed one, and the status.

Nothing here talks to Kubernetes or HTTP, so every rule can be unit-tested with plain data.
`service.py` does the I/O around these functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from langgraph_cron.models import (
    MAX_NESTING,
    MAX_SPEC_BYTES,
    Condition,
    LangGraphCronSpec,
    LangGraphCronStatus,
    ServerObjectRef,
    format_time,
    nesting_depth,
)
from langgraph_cron.schedule import expand_spread, has_spread, upcoming_runs, validate_kubernetes_schedule

# Reserved metadata keys stamped on every cron, so a cron can always be traced to its resource
# (and adopted after a crash) even when status.cronId was never written.
UID_KEY = "lgcron.io/uid"
NAMESPACE_KEY = "lgcron.io/namespace"
NAME_KEY = "lgcron.io/name"
# The server rewrites a graph name to the assistant's UUID in the stored cron, so the spec's own
# value is kept here to tell whether spec.assistantId changed.
ASSISTANT_KEY = "lgcron.io/assistant"
# Which cluster's operator owns the cron: two clusters sharing one Agent Server never touch each
# other's crons, and one paged search per server finds all of this cluster's crons.
CLUSTER_KEY = "lgcron.io/cluster"
# Set on a cron left behind on purpose (deletionPolicy: Orphan): never an orphan to audit or GC.
RELEASED_KEY = "lgcron.io/released"

# Run-payload fields copied 1:1 from the spec (snake_case on the server).
PAYLOAD_FIELDS = (
    "input",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "multitask_strategy",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
)
# The server silently ignores or refuses PATCHes of these, so changing them means a new cron.
IMMUTABLE_FIELDS = ("assistant", "thread_id", "multitask_strategy")


@dataclass(frozen=True)
class Identity:
    """Who owns a cron: a Kubernetes object (by uid), or in file mode a file's namespace/name."""

    uid: str | None
    namespace: str
    name: str
    cluster: str | None = None

    def metadata(self) -> dict[str, str]:
        tags = {NAMESPACE_KEY: self.namespace, NAME_KEY: self.name}
        if self.cluster:
            tags[CLUSTER_KEY] = self.cluster
        return {UID_KEY: self.uid, **tags} if self.uid else tags

    @property
    def search_filter(self) -> dict[str, str]:
        # File mode has no uid: namespace/name make re-applying the same file idempotent.
        return {UID_KEY: self.uid} if self.uid else {NAMESPACE_KEY: self.namespace, NAME_KEY: self.name}

    def owns(self, cron_metadata: dict[str, Any]) -> bool:
        """File mode must not take over the cron of a Kubernetes object with the same namespace/name."""
        return cron_metadata.get(UID_KEY) == self.uid


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event to post about the object (the service, the run history and run control all say them)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


# ---------------------------------------------------------------- spec validation


class InvalidSpec(Exception):
    """The spec cannot become a cron; the message names the field and the problem."""

    reason = "InvalidSpec"


class ServerNotAllowed(InvalidSpec):
    """spec.server.url is outside the operator's LGCRON_ALLOWED_SERVER_URLS: no request goes there."""

    reason = "ServerNotAllowed"


def _field_path(loc: tuple[Any, ...]) -> str:
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_spec(raw: dict[str, Any] | None) -> LangGraphCronSpec:
    """Validate a raw spec; raise InvalidSpec naming each bad field and why."""
    _check_size_and_depth(raw or {})
    try:
        # Strict JSON validation by alias: exactly what the CRD schema admits ("false" is not a
        # boolean, end_time is not endTime), so the operator and `lgcron validate` agree with kubectl.
        spec = LangGraphCronSpec.model_validate_json(json.dumps(raw or {}), strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
            message = error["msg"].removeprefix("Value error, ")
            problems.setdefault(_field_path(loc), []).append(message)
        # A union field fails once per alternative: say them together ("... or ...").
        raise InvalidSpec(
            "; ".join(
                # A rule across fields (loc ()) names its fields itself.
                msg if path == "spec" and msg.startswith("spec.") else f"{path}: {msg}"
                for path, msgs in problems.items()
                for msg in [" or ".join(dict.fromkeys(msgs))]
            )
        ) from None
    # Rules across fields, checked here so each message names its field.
    if spec.thread_id is not None and spec.on_run_completed is not None:
        raise InvalidSpec("spec.onRunCompleted: applies only to stateless crons; remove it or remove threadId")
    if spec.backend == "cronJob":
        try:
            validate_kubernetes_schedule(expand_spread(spec.schedule, "validation"))
        except ValueError as exc:
            raise InvalidSpec(f"spec.schedule: {exc}") from None
    return spec


def _check_size_and_depth(raw: dict[str, Any]) -> None:
    """Bounds checked on the raw spec, before anything that could recurse or buffer it (json.dumps)."""
    for name, value in raw.items():
        depth = nesting_depth(value)
        if depth > MAX_NESTING:
            raise InvalidSpec(f"spec.{name}: nested {depth} levels deep; at most {MAX_NESTING} are allowed")
    sizes = {name: len(json.dumps(value, separators=(",", ":"), default=str)) for name, value in raw.items()}
    if sum(sizes.values()) > MAX_SPEC_BYTES:
        largest = max(sizes, key=sizes.__getitem__)
        raise InvalidSpec(
            f"spec.{largest}: is {sizes[largest]} bytes of JSON; the whole spec may be at most "
            f"{MAX_SPEC_BYTES // 1024} KiB (Kubernetes caps an object's annotations, where kopf keeps the spec, at 256 KiB)"
        )


def _is_union_tag(part: Any) -> bool:
    """pydantic names union alternatives in error locations (e.g. "list[str]"); users never wrote those."""
    return isinstance(part, str) and ("[" in part or "'" in part or part in {"str", "int", "bool", "float"})


def effective(spec: LangGraphCronSpec, namespace: str, name: str) -> LangGraphCronSpec:
    """The spec as the backend gets it: any H of its schedule expanded for this namespace/name."""
    if not has_spread(spec.schedule):
        return spec
    return spec.model_copy(update={"schedule": expand_spread(spec.schedule, f"{namespace}/{name}")})


# ---------------------------------------------------------------- desired cron


def desired_cron(spec: LangGraphCronSpec, identity: Identity, now: datetime, *, forward_end_time: bool,
                 history_pruned: bool = False) -> dict[str, Any]:
    """The create-cron request body (snake_case) for this spec at time `now`.

    `history_pruned`: an operator keeps each run's thread for the run history and prunes them (the
    agentServer backend); without one (`lgcron apply`, the cronJob backend's Pods) nobody would.
    """
    dumped = spec.model_dump(by_alias=False, exclude_none=True, mode="json")
    body: dict[str, Any] = {
        "schedule": spec.schedule,
        "assistant_id": spec.assistant_id,
        # Measured: a cron without input makes every run fail with EmptyInputError.
        "input": spec.input if spec.input is not None else {},
        "metadata": {**(spec.metadata or {}), **identity.metadata(), ASSISTANT_KEY: spec.assistant_id},
        # endTime is enforced by the operator, so an expired cron is simply disabled.
        "enabled": spec.enabled and not spec.is_expired(now),
    }
    # Always explicit: the server cannot PATCH a timezone back to null, but it can to "UTC".
    body["timezone"] = spec.timezone or "UTC"
    for name in PAYLOAD_FIELDS:
        if name in dumped and name != "input":
            body[name] = dumped[name]
    if "config" in body:
        body["config"] = _normalized_config(body["config"])
        if not body["config"]:
            del body["config"]
    if not spec.is_thread_cron:
        # Explicit, so the diff sees any change. Unset: keep the run's thread while run history is on
        # and pruned (beyond spec.runHistory), else the server's own default, delete.
        keep = history_pruned and spec.history.enabled
        body["on_run_completed"] = spec.on_run_completed or ("keep" if keep else "delete")
    if forward_end_time and spec.end_time is not None:
        body["end_time"] = dumped["end_time"]
    return body


def _normalized_config(config: dict[str, Any]) -> dict[str, Any]:
    """Config without empty parts and without the `cron_id` the server injects into configurable."""
    result = {k: v for k, v in config.items() if k != "configurable" and v is not None}
    configurable = {k: v for k, v in (config.get("configurable") or {}).items() if k != "cron_id"}
    if configurable:
        result["configurable"] = configurable
    return result


def observed_cron(cron: Any) -> dict[str, Any]:
    """Project a server `Cron` onto the same shape as `desired_cron`, for diffing."""
    payload = dict(cron.payload or {})
    observed: dict[str, Any] = {
        "schedule": cron.schedule,
        "metadata": dict(cron.metadata or {}),
        "enabled": cron.enabled,
        "assistant": (cron.metadata or {}).get(ASSISTANT_KEY),
        "thread_id": cron.thread_id,
    }
    timezone = getattr(cron, "timezone", None) or payload.get("timezone")
    if timezone:
        observed["timezone"] = timezone
    for name in PAYLOAD_FIELDS:
        if payload.get(name) is not None:
            observed[name] = payload[name]
    if "config" in observed:
        observed["config"] = _normalized_config(observed["config"])
        if not observed["config"]:
            del observed["config"]
    on_run_completed = getattr(cron, "on_run_completed", None) or payload.get("on_run_completed")
    if on_run_completed:
        observed["on_run_completed"] = on_run_completed
    if cron.end_time is not None:
        observed["end_time"] = format_time(cron.end_time)
    return observed


@dataclass(frozen=True)
class Plan:
    """What to do with an existing cron to make it match the desired one."""

    action: Literal["noop", "patch", "replace"]
    patch: dict[str, Any] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


def plan_update(desired: dict[str, Any], observed: dict[str, Any], *, thread_id: str | None) -> Plan:
    """Diff a desired create body against an observed cron (both from the functions above)."""
    wanted = {k: v for k, v in desired.items() if k != "assistant_id"}
    wanted["assistant"] = desired["assistant_id"]
    wanted["thread_id"] = thread_id

    replace_reasons: list[str] = []
    patch: dict[str, Any] = {}
    for name in IMMUTABLE_FIELDS:
        if wanted.get(name) != observed.get(name):
            replace_reasons.append(f"{_spec_name(name)} changed and the server cannot update it in place")
    for name in sorted(set(wanted) | set(observed)):
        if name in IMMUTABLE_FIELDS or wanted.get(name) == observed.get(name):
            continue
        if name not in wanted:
            if name == "end_time":
                patch["end_time"] = None  # the one field the server lets us clear
            else:
                replace_reasons.append(f"{_spec_name(name)} was removed and the server cannot unset it")
        elif name == "metadata" and set(observed["metadata"]) - set(wanted["metadata"]):
            removed = sorted(set(observed["metadata"]) - set(wanted["metadata"]))
            replace_reasons.append(f"metadata keys {removed} were removed and the server only merges metadata")
        else:
            patch[name] = wanted[name]
    if replace_reasons:
        return Plan("replace", reasons=tuple(replace_reasons))
    if patch:
        return Plan("patch", patch=patch, reasons=tuple(f"{_spec_name(n)} changed" for n in patch))
    return Plan("noop")


def _spec_name(server_name: str) -> str:
    if server_name == "assistant":
        return "spec.assistantId"
    head, *rest = server_name.split("_")
    return "spec." + head + "".join(part.title() for part in rest)


# ---------------------------------------------------------------- status


ReadyReason = Literal["Scheduled", "Suspended", "Expired"]


@dataclass(frozen=True)
class Outcome:
    """How a reconcile ended, in condition terms."""

    reason: str
    message: str
    # ready: Ready=True. retrying: Ready=False and the operator retries by itself. stalled: Ready=False
    # until the spec changes (kstatus "Failed").
    kind: Literal["ready", "retrying", "stalled"]

    @classmethod
    def ready(cls, spec: LangGraphCronSpec, now: datetime) -> Outcome:
        if spec.is_expired(now):
            assert spec.end_time is not None
            return cls("Expired", f"endTime {format_time(spec.end_time)} has passed; the cron is disabled", "ready")
        if not spec.enabled:
            return cls("Suspended", "spec.enabled is false; the cron is disabled", "ready")
        where = "as a Kubernetes CronJob" if spec.backend == "cronJob" else "on the Agent Server"
        return cls("Scheduled", f"the cron is scheduled {where}", "ready")


def build_conditions(
    outcome: Outcome, previous: list[Condition], generation: int | None, now: datetime
) -> list[Condition]:
    """Ready, Reconciling and Stalled for an outcome; lastTransitionTime moves only when status flips."""
    before = {c.type: c for c in previous}
    ready = outcome.kind == "ready"
    wanted = [
        ("Ready", ready, outcome.reason, outcome.message),
        (
            "Reconciling",
            outcome.kind == "retrying",
            outcome.reason if outcome.kind == "retrying" else "Reconciled",
            f"retrying: {outcome.message}" if outcome.kind == "retrying" else "",
        ),
        (
            "Stalled",
            outcome.kind == "stalled",
            outcome.reason if outcome.kind == "stalled" else "NotStalled",
            f"{outcome.message}; fix the spec to retry" if outcome.kind == "stalled" else "",
        ),
    ]
    conditions = []
    # Conditions about other things (LastRunSucceeded: the runs, not the cron) are kept as they are.
    others = [c for c in previous if c.type not in ("Ready", "Reconciling", "Stalled")]
    for type_, is_true, reason, message in wanted:
        status = "True" if is_true else "False"
        old = before.get(type_)
        transition = old.last_transition_time if old and old.status == status and old.last_transition_time else None
        conditions.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                observed_generation=generation,
                last_transition_time=transition or format_time(now),
            )
        )
    return conditions + others


def build_status(
    previous: LangGraphCronStatus,
    *,
    outcome: Outcome,
    generation: int | None,
    now: datetime,
    spec: LangGraphCronSpec | None = None,
    cron: Any = None,
    server_url: str | None = None,
    server_ref: ServerObjectRef | None = None,
) -> LangGraphCronStatus:
    """The status to write after a reconcile. Cron facts are kept from `previous` when `cron` is None."""
    status = previous.model_copy(deep=True)
    status.observed_generation = generation
    status.conditions = build_conditions(outcome, previous.conditions, generation, now)
    if cron is not None:
        if previous.backend == "cronJob":  # the Jobs' history is not this backend's
            status.cron_job_name = status.last_schedule_time = status.last_successful_time = None
            status.last_failure_time = status.last_run = status.active_runs = status.runs = None
        status.backend = "agentServer"
        status.cron_id = cron.cron_id
        status.server_url = server_url
        status.server_ref = server_ref
        status.assistant_id = cron.assistant_id
        status.thread_id = spec.thread_id if spec else None
        status.last_sync_time = format_time(now)
        active = spec is not None and spec.enabled and not spec.is_expired(now)
        status.effective_schedule = spec.schedule if spec else None
        status.next_run_date = format_time(cron.next_run_date) if active and cron.next_run_date else None
        status.upcoming_runs = (
            [format_time(t) for t in upcoming_runs(spec.schedule, spec.timezone, now)] if active and spec else None
        )
    return status


def status_patch(old: LangGraphCronStatus, new: LangGraphCronStatus) -> dict[str, Any] | None:
    """A merge patch for `.status`, or None when nothing but lastSyncTime would change (no churn)."""
    old_dump = old.model_dump(by_alias=True, exclude_none=True, mode="json")
    new_dump = new.model_dump(by_alias=True, exclude_none=True, mode="json")
    if {k: v for k, v in old_dump.items() if k != "lastSyncTime"} == {
        k: v for k, v in new_dump.items() if k != "lastSyncTime"
    }:
        return None
    patch: dict[str, Any] = {k: v for k, v in new_dump.items() if old_dump.get(k) != v}
    for gone in set(old_dump) - set(new_dump):
        patch[gone] = None  # merge-patch null deletes the key
    return patch
