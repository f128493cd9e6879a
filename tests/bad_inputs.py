"""The bad-input catalogue: invalid (and a few tricky valid) LangGraphCron specs, each with the
outcome it must have.

Shared by two tests:

* ``tests/unit/test_bad_input_catalogue.py`` (pure): for each case, whether the CRD's
  openAPIV3Schema rejects it at ``kubectl apply`` time (checked with ``jsonschema``, see
  ``crd_schema_verdict``), and that ``parse_spec`` rejects it with an InvalidSpec naming the field;
* ``tests/operator/test_bad_input.py``: the whole catalogue applied in ONE operator run, each
  case checked for its Ready condition reason, a message naming the field, zero Agent Server
  connections, no status churn, and a released finalizer.

A case's spec is the base spec (``base_spec``) with ``spec`` merged over it and ``drop`` removed.

On a real cluster the apiserver sees a case first: ``schema_rejects`` cases fail at create with
HTTP 422, ``schema_prunes`` cases lose those unknown fields silently (the apiserver prunes fields
a structural schema does not declare) and become valid. (kubectl's default --validate=strict
refuses unknown fields instead; a plain API create, as in the operator test, prunes them.)
Everything else reaches the operator, which must catch it itself: bad cron expressions and
timezones, reserved metadata keys, onRunCompleted with threadId, a seconds field on the cronJob
backend, >1 MiB or >32-level free-form content.

``known_problem`` marks a case the product gets wrong today (the tests pin it with a strict xfail,
so fixing it makes them fail until the mark is removed). Such a case still lists the outcome it
*should* have. ``model_problem`` says the problem is in ``parse_spec`` itself, so the unit test
pins it too.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

FAR_AWAY = "0 9 1 1 *"  # never fires during a test (same as tests/operator/operator_helpers.py)
THREAD = "5f0c1d4e-0000-4000-8000-000000000000"
MISSING_SECRET = "missing-api-key"
# The Secret every operator test creates (tests/operator/conftest.py SENTINEL_SECRET).
DEFAULT_SECRET = "lgcron-default-api-key"
CRD_FILE = Path(__file__).resolve().parents[1] / "crds" / "langgraphcron.yaml"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


# Just over 1 MiB of JSON (the issue's example), far over the model's MAX_SPEC_BYTES (128 KiB) and below
# etcd's 1.5 MiB request limit.
OVERSIZED_INPUT = {"text": "x" * (1024 * 1024 + 64)}
TOO_DEEP = _nested(40)  # the model allows 32 levels

@dataclass(frozen=True)
class Case:
    name: str  # also the resource name (DNS-1123)
    spec: dict[str, Any]  # merged over base_spec
    field: str  # what the condition message (and the Warning Event) must name
    covers: str = ""  # the spec field this case is about (dotted, camelCase); default: from `field`
    reason: str = "InvalidSpec"  # the Ready condition reason it must get from the operator
    ready: bool = False  # Ready=True with `reason` (a valid spec), rather than Ready=False
    drop: tuple[str, ...] = ()  # base spec keys to remove
    schema_rejects: bool = False  # the CRD schema rejects it: HTTP 422 at create on a real cluster
    cel_rejects: bool = False  # a CEL rule of the CRD rejects it (core/rules.py): 422 too, with the rule's words
    schema_prunes: tuple[str, ...] = ()  # spec paths a real cluster prunes as unknown fields
    known_problem: str = ""  # non-empty: the product gets this case wrong today (pinned xfail)
    model_problem: bool = False  # the known problem is in parse_spec itself (the unit test pins it too)

    @property
    def covered_field(self) -> str:
        if self.covers:
            return self.covers
        return re.sub(r"\[\d+\]", "", self.field.removeprefix("spec."))

    @property
    def rejected_by_crd(self) -> bool:
        """A real apiserver refuses it at create, whether the operator runs or not."""
        return self.schema_rejects or self.cel_rejects

    @property
    def operator_only(self) -> bool:
        """Only the operator can catch it (its webhook at apply time, else reconcile): the CRD neither
        rejects nor prunes it."""
        return not self.rejected_by_crd and not self.schema_prunes

    def full_spec(self, **overrides: Any) -> dict[str, Any]:
        spec = {**base_spec(self.name), **copy.deepcopy(self.spec), **overrides}
        for key in self.drop:
            spec.pop(key, None)
        return spec


def base_spec(name: str) -> dict[str, Any]:
    return {"schedule": FAR_AWAY, "assistantId": "agent", "input": {"text": name}}


def _c(name: str, spec: dict[str, Any], field: str, **kwargs: Any) -> Case:
    return Case(name=name, spec=spec, field=field, **kwargs)


CASES: list[Case] = [
    # ---------------------------------------------------------------- schedule
    _c("schedule-out-of-range", {"schedule": "61 * * * *"}, "spec.schedule"),
    _c("schedule-never-fires", {"schedule": "0 0 31 2 *"}, "spec.schedule"),
    _c("schedule-four-fields", {"schedule": "0 9 1 *"}, "spec.schedule", cel_rejects=True),
    _c("schedule-prose", {"schedule": "every day at nine"}, "spec.schedule", cel_rejects=True),
    _c("schedule-not-a-string", {"schedule": 5}, "spec.schedule", schema_rejects=True),
    _c("schedule-empty", {"schedule": ""}, "spec.schedule", schema_rejects=True),
    _c("schedule-missing", {}, "spec.schedule", drop=("schedule",), schema_rejects=True),
    _c("schedule-seconds-on-cronjob", {"backend": "cronJob", "schedule": "*/5 * * * * *"}, "spec.schedule", cel_rejects=True),
    _c("schedule-macro-on-cronjob", {"backend": "cronJob", "schedule": "@every 5m"}, "spec.schedule", cel_rejects=True),
    # ---------------------------------------------------------------- timezone
    _c("timezone-unknown", {"timezone": "Mars/Olympus"}, "spec.timezone"),
    _c("timezone-path-traversal", {"timezone": "../../../etc/passwd"}, "spec.timezone", cel_rejects=True),
    _c("timezone-offset", {"timezone": "+02:00"}, "spec.timezone", cel_rejects=True),
    _c("timezone-not-a-string", {"timezone": 2}, "spec.timezone", schema_rejects=True),
    # ---------------------------------------------------------------- assistantId
    _c("assistant-empty", {"assistantId": ""}, "spec.assistantId", schema_rejects=True),
    _c("assistant-missing", {}, "spec.assistantId", drop=("assistantId",), schema_rejects=True),
    _c("assistant-not-a-string", {"assistantId": ["agent"]}, "spec.assistantId", schema_rejects=True),
    # ---------------------------------------------------------------- threadId
    _c("thread-not-a-uuid", {"threadId": "not-a-uuid"}, "spec.threadId", schema_rejects=True),
    _c("thread-truncated-uuid", {"threadId": THREAD[:23]}, "spec.threadId", schema_rejects=True),
    _c("thread-not-a-string", {"threadId": 42}, "spec.threadId", schema_rejects=True),
    # A rule across two fields: the message must still name one (it said "spec: ..." before).
    _c("thread-with-on-run-completed", {"threadId": THREAD, "onRunCompleted": "keep"}, "spec.onRunCompleted",
       cel_rejects=True),
    # ---------------------------------------------------------------- input
    _c("input-string", {"input": "hello"}, "spec.input"),
    _c("input-list-of-scalars", {"input": [{"text": "a"}, 2]}, "spec.input"),
    # Also proves the object can be marked handled: an apiserver caps annotations at 256 KiB (the
    # emulator enforces it too), so kopf's bookkeeping must not copy the spec into one.
    _c("input-over-1mib", {"input": OVERSIZED_INPUT}, "spec.input"),
    _c("input-nested-too-deep", {"input": TOO_DEEP}, "spec.input"),
    # ---------------------------------------------------------------- metadata
    _c("metadata-reserved-key", {"metadata": {"lgcron.io/uid": "forged"}}, "spec.metadata"),
    _c("metadata-reserved-prefix", {"metadata": {"team": "a", "lgcron.io/cluster": "other"}}, "spec.metadata"),
    _c("metadata-not-an-object", {"metadata": ["team"]}, "spec.metadata", schema_rejects=True),
    _c("metadata-nested-too-deep", {"metadata": TOO_DEEP}, "spec.metadata"),
    # ---------------------------------------------------------------- config
    _c("config-not-an-object", {"config": "fast"}, "spec.config", schema_rejects=True),
    _c("config-tags-not-a-list", {"config": {"tags": "nightly"}}, "spec.config.tags", schema_rejects=True),
    _c("config-tag-not-a-string", {"config": {"tags": ["ok", 7]}}, "spec.config.tags[1]", schema_rejects=True),
    _c("config-recursion-limit-zero", {"config": {"recursionLimit": 0}}, "spec.config.recursionLimit",
       schema_rejects=True),
    _c("config-recursion-limit-word", {"config": {"recursionLimit": "many"}}, "spec.config.recursionLimit",
       schema_rejects=True),
    _c("config-configurable-not-an-object", {"config": {"configurable": ["model"]}}, "spec.config.configurable",
       schema_rejects=True),
    # ---------------------------------------------------------------- context, webhook
    _c("context-not-an-object", {"context": "tenant-1"}, "spec.context", schema_rejects=True),
    _c("context-nested-too-deep", {"context": TOO_DEEP}, "spec.context"),
    _c("webhook-empty", {"webhook": ""}, "spec.webhook", schema_rejects=True),
    _c("webhook-not-a-string", {"webhook": {"url": "https://hooks.example.com"}}, "spec.webhook",
       schema_rejects=True),
    # ---------------------------------------------------------------- interruptBefore/After
    _c("interrupt-before-word", {"interruptBefore": "everything"}, "spec.interruptBefore"),
    _c("interrupt-before-object", {"interruptBefore": {"node": True}}, "spec.interruptBefore"),
    _c("interrupt-after-numbers", {"interruptAfter": [1, 2]}, "spec.interruptAfter"),
    # ---------------------------------------------------------------- enums and booleans
    _c("multitask-unknown", {"multitaskStrategy": "queue"}, "spec.multitaskStrategy", schema_rejects=True),
    _c("enabled-not-a-boolean", {"enabled": "maybe"}, "spec.enabled", schema_rejects=True),
    _c("on-run-completed-unknown", {"onRunCompleted": "forget"}, "spec.onRunCompleted", schema_rejects=True),
    # ---------------------------------------------------------------- runHistory
    _c("run-history-negative-limit", {"runHistory": {"successfulRunsLimit": -1}},
       "spec.runHistory.successfulRunsLimit", schema_rejects=True),
    _c("run-history-huge-limit", {"runHistory": {"failedRunsLimit": 1000}}, "spec.runHistory.failedRunsLimit",
       schema_rejects=True),
    _c("run-history-not-an-object", {"runHistory": 3}, "spec.runHistory", schema_rejects=True),
    _c("stream-mode-unknown", {"streamMode": "loud"}, "spec.streamMode"),
    _c("stream-mode-list-unknown", {"streamMode": ["values", "shouting"]}, "spec.streamMode"),
    _c("stream-subgraphs-not-a-boolean", {"streamSubgraphs": "sometimes"}, "spec.streamSubgraphs",
       schema_rejects=True),
    _c("stream-resumable-not-a-boolean", {"streamResumable": 2}, "spec.streamResumable", schema_rejects=True),
    _c("durability-unknown", {"durability": "eventual"}, "spec.durability", schema_rejects=True),
    _c("deletion-policy-unknown", {"deletionPolicy": "Keep"}, "spec.deletionPolicy", schema_rejects=True),
    _c("backend-unknown", {"backend": "kubernetes"}, "spec.backend", schema_rejects=True),
    # ---------------------------------------------------------------- endTime
    _c("end-time-prose", {"endTime": "tomorrow"}, "spec.endTime", schema_rejects=True),
    _c("end-time-date-with-slashes", {"endTime": "2030/01/01 00:00"}, "spec.endTime", schema_rejects=True),
    # Valid, not invalid: an endTime in the past means Ready=True, reason Expired (a disabled cron).
    _c("end-time-in-the-past", {"endTime": "2020-01-01T00:00:00Z"}, "endTime 2020-01-01T00:00:00Z",
       covers="endTime", reason="Expired", ready=True),
    # ---------------------------------------------------------------- server
    _c("server-not-an-object", {"server": "https://my-deployment.example.com"}, "spec.server", schema_rejects=True),
    _c("server-url-no-scheme", {"server": {"url": "my-deployment.example.com"}}, "spec.server.url",
       schema_rejects=True),
    _c("server-url-ftp", {"server": {"url": "ftp://my-deployment.example.com"}}, "spec.server.url",
       schema_rejects=True),
    _c("secret-ref-without-key", {"server": {"apiKeySecretRef": {"name": MISSING_SECRET}}},
       "spec.server.apiKeySecretRef.key", schema_rejects=True),
    _c("secret-ref-empty-name", {"server": {"apiKeySecretRef": {"name": "", "key": "apiKey"}}},
       "spec.server.apiKeySecretRef.name", schema_rejects=True),
    # Not a spec error: it heals by itself once the Secret exists (retried, not stalled).
    _c("secret-missing", {"server": {"apiKeySecretRef": {"name": MISSING_SECRET, "key": "apiKey"}}},
       MISSING_SECRET, covers="server.apiKeySecretRef", reason="SecretNotFound"),
    # ---------------------------------------------------------------- cronJob
    _c("cronjob-not-an-object", {"backend": "cronJob", "cronJob": "yes"}, "spec.cronJob", schema_rejects=True),
    _c("cronjob-concurrency-unknown", {"backend": "cronJob", "cronJob": {"concurrencyPolicy": "Sometimes"}},
       "spec.cronJob.concurrencyPolicy", schema_rejects=True),
    _c("cronjob-starting-deadline-negative", {"backend": "cronJob", "cronJob": {"startingDeadlineSeconds": -1}},
       "spec.cronJob.startingDeadlineSeconds", schema_rejects=True),
    _c("cronjob-successful-history-negative", {"backend": "cronJob", "cronJob": {"successfulJobsHistoryLimit": -1}},
       "spec.cronJob.successfulJobsHistoryLimit", schema_rejects=True),
    _c("cronjob-failed-history-word", {"backend": "cronJob", "cronJob": {"failedJobsHistoryLimit": "one"}},
       "spec.cronJob.failedJobsHistoryLimit", schema_rejects=True),
    _c("cronjob-active-deadline-zero", {"backend": "cronJob", "cronJob": {"activeDeadlineSeconds": 0}},
       "spec.cronJob.activeDeadlineSeconds", schema_rejects=True),
    _c("cronjob-image-empty", {"backend": "cronJob", "cronJob": {"image": ""}}, "spec.cronJob.image",
       schema_rejects=True),
    _c("cronjob-pull-policy-unknown", {"backend": "cronJob", "cronJob": {"imagePullPolicy": "Sometimes"}},
       "spec.cronJob.imagePullPolicy", schema_rejects=True),
    _c("cronjob-resources-not-an-object", {"backend": "cronJob", "cronJob": {"resources": "lots"}},
       "spec.cronJob.resources", schema_rejects=True),
    _c("cronjob-service-account-empty", {"backend": "cronJob", "cronJob": {"serviceAccountName": ""}},
       "spec.cronJob.serviceAccountName", schema_rejects=True),
    _c("cronjob-pod-label-not-a-string", {"backend": "cronJob", "cronJob": {"podLabels": {"tier": 1}}},
       "spec.cronJob.podLabels.tier", covers="cronJob.podLabels", schema_rejects=True),
    _c("cronjob-pod-annotations-list", {"backend": "cronJob", "cronJob": {"podAnnotations": ["a=b"]}},
       "spec.cronJob.podAnnotations", schema_rejects=True),
    # ---------------------------------------------------------------- unknown fields
    # kmock (no schema): the operator names the field; a real cluster prunes it and the rest is valid.
    _c("unknown-field-typo", {"scheduel": "0 9 * * *"}, "spec.scheduel", covers="(unknown)",
       schema_prunes=("scheduel",)),
    _c("unknown-config-field", {"config": {"maxSteps": 5}}, "spec.config.maxSteps", covers="(unknown)",
       schema_prunes=("config.maxSteps",)),
    _c("unknown-cronjob-field", {"backend": "cronJob", "cronJob": {"suspend": True}}, "spec.cronJob.suspend",
       covers="(unknown)", schema_prunes=("cronJob.suspend",)),
    # An attempt at a cross-namespace Secret: there is no such field, the Secret is always the resource's own.
    _c("unknown-secret-ref-namespace",
       {"server": {"apiKeySecretRef": {"name": DEFAULT_SECRET, "key": "apiKey", "namespace": "kube-system"}}},
       "spec.server.apiKeySecretRef.namespace", covers="(unknown)",
       schema_prunes=("server.apiKeySecretRef.namespace",)),
    # ---------------------------------------------------------------- found and fixed (regression guards)
    _c("enabled-string-false", {"enabled": "false"}, "spec.enabled", schema_rejects=True),
    _c("recursion-limit-numeric-string", {"config": {"recursionLimit": "5"}}, "spec.config.recursionLimit",
       schema_rejects=True),
    _c("end-time-unix-seconds", {"endTime": 1700000000}, "spec.endTime", schema_rejects=True),
    _c("snake-case-field-name", {"end_time": "2020-01-01T00:00:00Z"}, "spec.end_time", covers="(unknown)",
       schema_prunes=("end_time",)),
    _c("server-url-port-out-of-range", {"server": {"url": "http://127.0.0.1:99999"}}, "spec.server.url"),
    _c("server-url-without-host", {"server": {"url": "http://"}}, "spec.server.url"),
    _c("server-url-with-credentials", {"server": {"url": "https://ops:pw@my-deployment.example.com"}},
       "spec.server.url", cel_rejects=True),
    # ---------------------------------------------------------------- failurePolicy, maxRuns, runTimeoutSeconds
    _c("pause-after-zero-failures", {"failurePolicy": {"pauseAfterConsecutiveFailures": 0}},
       "spec.failurePolicy.pauseAfterConsecutiveFailures", schema_rejects=True),
    _c("failure-policy-not-an-object", {"failurePolicy": "pause"}, "spec.failurePolicy", schema_rejects=True),
    _c("max-runs-zero", {"maxRuns": 0}, "spec.maxRuns", schema_rejects=True),
    _c("max-runs-a-string", {"maxRuns": "ten"}, "spec.maxRuns", schema_rejects=True),
    _c("run-timeout-negative", {"runTimeoutSeconds": -5}, "spec.runTimeoutSeconds", schema_rejects=True),
    _c("schedule-h-in-day-of-month", {"schedule": "0 9 H * *"}, "spec.schedule", cel_rejects=True),
    _c("schedule-h-range-out-of-bounds", {"schedule": "H(0-99) 9 * * *"}, "spec.schedule"),
    # ---------------------------------------------------------------- serverRef
    _c("server-ref-and-inline-server",
       {"serverRef": {"name": "shared"}, "server": {"url": "https://my-deployment.example.com"}},
       "spec.serverRef", cel_rejects=True),
    _c("server-ref-unknown-kind", {"serverRef": {"kind": "SecretStore", "name": "shared"}}, "spec.serverRef.kind",
       schema_rejects=True),
    _c("server-ref-without-name", {"serverRef": {"kind": "LangGraphServer"}}, "spec.serverRef.name",
       schema_rejects=True),
    _c("server-ref-name-not-dns", {"serverRef": {"name": "Shared_Server"}}, "spec.serverRef.name",
       schema_rejects=True),
    # Valid, but names nothing: its own reason, and no server call (it heals when the server appears).
    _c("server-ref-missing-server", {"serverRef": {"name": "no-such-server"}}, "spec.serverRef",
       reason="ServerNotFound"),
    # ---------------------------------------------------------------- found by the catalogue, fixed since
    _c("thread-urn-uuid", {"threadId": f"urn:uuid:{THREAD}"}, "spec.threadId", schema_rejects=True),
    _c("end-time-numeric-string", {"endTime": "1700000000"}, "spec.endTime", schema_rejects=True),
    _c("server-url-trailing-newline", {"server": {"url": "https://my-deployment.example.com\n"}}, "spec.server.url",
       cel_rejects=True),
    _c("input-nested-250-levels", {"input": _nested(250)}, "spec.input"),
    _c("config-configurable-nested-too-deep", {"config": {"configurable": TOO_DEEP}}, "spec.config"),
    _c("input-over-128kib", {"input": {"text": "x" * 140_000}}, "spec.input"),
    # ---------------------------------------------------------------- found by trying `kubectl apply` (issue 20)
    _c("timezone-typo", {"timezone": "Europe/Berln"}, "spec.timezone"),
    _c("schedule-minute-61", {"schedule": "61 7 * * *"}, "spec.schedule"),
    _c("schedule-h-in-day-of-month-with-minute", {"schedule": "0 7 H * *"}, "spec.schedule", cel_rejects=True),
    _c("schedule-seven-fields", {"schedule": "0 0 1 1 * 0 2030"}, "spec.schedule", cel_rejects=True),
    _c("cronjob-options-on-agent-server", {"cronJob": {"image": "registry.example.com/lgcron:1"}}, "spec.cronJob",
       cel_rejects=True),
    # Valid: a day name with an H in it (THU) is not an H spread (it was refused before).
    _c("schedule-day-name-with-h", {"schedule": "0 9 1 1 THU"}, "the cron is scheduled", covers="schedule",
       reason="Scheduled", ready=True),
    # The largest valid input, well within the 128 KiB spec limit.
    _c("input-100kib", {"input": {"text": "x" * 100_000}}, "the cron is scheduled", covers="input",
       reason="Scheduled", ready=True),
]

CASES_BY_NAME = {case.name: case for case in CASES}
assert len(CASES_BY_NAME) == len(CASES), "case names must be unique"


# ---------------------------------------------------------------- the CRD schema as jsonschema


def crd_openapi_schema(crd_file: Path = CRD_FILE) -> dict[str, Any]:
    crd = yaml.safe_load(crd_file.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# kube-openapi's strfmt (what the apiserver validates `format` with).
_K8S_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_K8S_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?$"
)


def _k8s_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_K8S_UUID.match(value))


def _k8s_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    m = _K8S_DATE_TIME.match(value)
    if not m:
        return False
    try:
        date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return int(m[4]) <= 23 and int(m[5]) <= 59 and int(m[6] or 0) <= 59


def _to_json_schema(node: Any) -> Any:
    """The CRD's OpenAPI v3 schema as plain JSON Schema: drop the x-kubernetes-* keywords (they
    only stop pruning, which `pruned_paths` models) and `default` (applied, never validated)."""
    if isinstance(node, dict):
        return {k: _to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "default"}
    if isinstance(node, list):
        return [_to_json_schema(v) for v in node]
    return node


def pruned_paths(value: Any, node: dict[str, Any], path: str = "") -> list[str]:
    """Paths the apiserver would drop from `value`: fields of an object node that the structural
    schema does not declare, unless x-kubernetes-preserve-unknown-fields keeps them."""
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found: list[str] = []
    if isinstance(value, dict) and "properties" in node:
        for key, child in value.items():
            sub = f"{path}.{key}" if path else key
            if key in node["properties"]:
                found += pruned_paths(child, node["properties"][key], sub)
            else:
                found.append(sub)
    elif isinstance(value, dict) and isinstance(node.get("additionalProperties"), dict):
        for key, child in value.items():
            found += pruned_paths(child, node["additionalProperties"], f"{path}.{key}" if path else key)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, child in enumerate(value):
            found += pruned_paths(child, node["items"], f"{path}[{i}]")
    return found


def without_paths(spec: dict[str, Any], paths: list[str] | tuple[str, ...]) -> dict[str, Any]:
    result = copy.deepcopy(spec)
    for path in paths:
        *parents, last = path.split(".")
        target = result
        for part in parents:
            target = target[part]
        target.pop(last, None)
    return result


def has_path(spec: dict[str, Any], path: str) -> bool:
    target: Any = spec
    for part in path.split("."):
        if not isinstance(target, dict) or part not in target:
            return False
        target = target[part]
    return True


@dataclass
class SchemaVerdict:
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "spec.path: message", after pruning

    @property
    def rejects(self) -> bool:
        return bool(self.errors)


def crd_schema_verdict(spec: dict[str, Any], schema: dict[str, Any] | None = None) -> SchemaVerdict:
    """What the apiserver does with a LangGraphCron of this spec: prune unknown fields, then
    validate against the openAPIV3Schema (a 422 when anything fails)."""
    import jsonschema

    schema = schema or crd_openapi_schema()
    spec_node = schema["properties"]["spec"]
    pruned = pruned_paths(spec, spec_node)
    obj = {"apiVersion": "lgcron.io/v1alpha1", "kind": "LangGraphCron", "metadata": {"name": "x"},
           "spec": without_paths(spec, pruned)}
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("uuid")(_k8s_uuid)
    checker.checks("date-time")(_k8s_date_time)
    validator = jsonschema.Draft7Validator(_to_json_schema(schema), format_checker=checker)
    errors = []
    for error in validator.iter_errors(obj):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        if error.validator == "required":  # jsonschema reports it at the parent
            missing = re.match(r"'([^']+)'", error.message)
            where = f"{where}.{missing[1]}" if missing else where
        errors.append(f"{where}: {error.message[:200]}")
    return SchemaVerdict(pruned=pruned, errors=errors)


def spec_fields(schema: dict[str, Any] | None = None) -> list[str]:
    """Every field of the CRD's spec, dotted (e.g. cronJob.podLabels), free-form contents excluded."""
    schema = schema or crd_openapi_schema()
    fields: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, child in (node.get("properties") or {}).items():
            fields.append(prefix + name)
            walk(child, f"{prefix}{name}.")

    walk(schema["properties"]["spec"], "")
    return fields


# ---------------------------------------------------------------- server objects
# Bad LangGraphServer / ClusterLangGraphServer specs: refused by the CRD schema at apply time, or
# caught by the operator (Ready=False, reason InvalidSpec, a message naming the field, no request).

SERVER_CRD_FILES = {
    "LangGraphServer": CRD_FILE.with_name("langgraphserver.yaml"),
    "ClusterLangGraphServer": CRD_FILE.with_name("clusterlanggraphserver.yaml"),
}


@dataclass(frozen=True)
class ServerCase:
    name: str
    kind: str
    spec: dict[str, Any]
    field: str
    schema_rejects: bool = False
    cel_rejects: bool = False


SERVER_CASES: list[ServerCase] = [
    ServerCase("url-missing", "LangGraphServer", {}, "spec.url", schema_rejects=True),
    ServerCase("url-no-scheme", "LangGraphServer", {"url": "agents.example.com"}, "spec.url", schema_rejects=True),
    ServerCase("url-with-credentials", "LangGraphServer", {"url": "https://u:p@agents.example.com"}, "spec.url",
               cel_rejects=True),
    ServerCase("url-bad-port", "ClusterLangGraphServer", {"url": "https://agents.example.com:99999"}, "spec.url"),
    ServerCase("secret-ref-without-key", "LangGraphServer",
               {"url": "https://a.example.com", "apiKeySecretRef": {"name": "k"}}, "spec.apiKeySecretRef.key",
               schema_rejects=True),
    ServerCase("cluster-secret-ref-without-namespace", "ClusterLangGraphServer",
               {"url": "https://a.example.com", "apiKeySecretRef": {"name": "k", "key": "apiKey"}},
               "spec.apiKeySecretRef.namespace", schema_rejects=True),
    ServerCase("ca-bundle-ref-bad-kind", "LangGraphServer",
               {"url": "https://a.example.com", "caBundleRef": {"kind": "Pod", "name": "ca", "key": "ca.crt"}},
               "spec.caBundleRef.kind", schema_rejects=True),
    ServerCase("timeout-zero", "LangGraphServer", {"url": "https://a.example.com", "requestTimeoutSeconds": 0},
               "spec.requestTimeoutSeconds", schema_rejects=True),
    ServerCase("timeout-too-long", "ClusterLangGraphServer",
               {"url": "https://a.example.com", "requestTimeoutSeconds": 3600}, "spec.requestTimeoutSeconds",
               schema_rejects=True),
    ServerCase("concurrency-zero", "LangGraphServer", {"url": "https://a.example.com", "maxConcurrentRequests": 0},
               "spec.maxConcurrentRequests", schema_rejects=True),
    ServerCase("conditions-bad-regex", "ClusterLangGraphServer",
               {"url": "https://a.example.com", "conditions": [{"namespaceRegexes": ["team-("]}]},
               "spec.conditions[0].namespaceRegexes"),
    ServerCase("conditions-bad-selector-operator", "ClusterLangGraphServer",
               {"url": "https://a.example.com",
                "conditions": [{"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}}]},
               "spec.conditions[0].namespaceSelector.matchExpressions[0].operator", schema_rejects=True),
    ServerCase("conditions-not-a-list", "ClusterLangGraphServer",
               {"url": "https://a.example.com", "conditions": {"namespaces": ["a"]}}, "spec.conditions",
               schema_rejects=True),
]


# ---------------------------------------------------------------- the catalogue as a table (docs/bad-input.md)

TABLE_FILE = Path(__file__).resolve().parents[1] / "docs" / "bad-input.md"
_TABLE_HEAD = """# The bad-input catalogue: what each level catches

Generated from `tests/bad_inputs.py` by `python -m tests.bad_inputs --write`; `tests/unit/test_bad_input_catalogue.py`
fails when the two differ. Every row is asserted by the tests at each level it names:

* **lgcron validate**: offline, before a merge (`tests/operator/test_admission.py` and the unit tests);
* **CRD**: the apiserver itself, also while the operator is down: the schema, its CEL rules (`core/rules.py`),
  and kubectl's strict field validation for unknown fields (`tests/operator/test_bad_input.py`, real cluster);
* **webhook**: the operator's admission webhook refuses with the sentence the condition would carry
  (`tests/operator/test_admission.py`);
* **status**: what reconcile reports when the object exists anyway (webhook off or `failurePolicy: Ignore` with
  the operator down, or kmock): the Ready reason (`tests/operator/test_bad_input.py`).

A user whose `kubectl apply` of a bad LangGraphCron succeeds has found a gap in this table.

| case | spec (over a valid base) | lgcron validate | CRD (operator down) | webhook | status (Ready reason) |
|---|---|---|---|---|---|
"""


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return text.replace("|", "\\|")


def _levels(case: Case) -> tuple[str, str, str, str]:
    server_side = case.reason in ("ServerNotFound", "SecretNotFound", "ServerNotAllowed")
    if case.ready:
        return "ok", "admitted", "admitted", f"Ready ({case.reason})"
    offline = "admitted (only the cluster knows)" if server_side else "refused"
    if case.schema_prunes:
        return "refused (unknown field)", "refused (strict fields; pruned without)", "-", "pruned, then Ready"
    if case.schema_rejects:
        return offline, "refused (schema)", "-", "-"
    if case.cel_rejects:
        return offline, "refused (CEL)", "-", "-"
    webhook = {"ServerNotFound": "admitted, with a warning", "SecretNotFound": "admitted"}.get(case.reason, "refused")
    return offline, "admitted", webhook, case.reason


def catalogue_table() -> str:
    rows = []
    for case in CASES:
        spec = {**case.spec, **{key: "(removed)" for key in case.drop}}
        validate_level, crd, webhook, status = _levels(case)
        rows.append(f"| `{case.name}` | `{_short(spec)}` | {validate_level} | {crd} | {webhook} | {status} |")
    servers = ["", "Server objects (LangGraphServer, ClusterLangGraphServer):", "",
               "| case | kind | spec | lgcron validate | CRD (operator down) | webhook | status |",
               "|---|---|---|---|---|---|---|"]
    for server in SERVER_CASES:
        crd = "refused (schema)" if server.schema_rejects else "refused (CEL)" if server.cel_rejects else "admitted"
        webhook = "-" if server.schema_rejects or server.cel_rejects else "refused"
        status = "-" if server.schema_rejects or server.cel_rejects else "InvalidSpec"
        servers.append(f"| `{server.name}` | {server.kind} | `{_short(server.spec)}` | refused | {crd} | {webhook} | "
                       f"{status} |")
    return _TABLE_HEAD + "\n".join(rows) + "\n" + "\n".join(servers) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        TABLE_FILE.parent.mkdir(exist_ok=True)
        TABLE_FILE.write_text(catalogue_table())
        print(f"wrote {TABLE_FILE}")
    else:
        sys.stdout.write(catalogue_table())
