"""The agentServer backend's plan: the cron a spec wants, and what to do about the one the server has
(nothing, a patch, or a replacement). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from langgraph_cron.core.models import (
    LangGraphCronSpec,
    format_time,
)
from langgraph_cron.core.spec import (
    ASSISTANT_KEY,
    Identity,
)

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


