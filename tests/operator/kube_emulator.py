"""
A Kubernetes API emulator that a kopf operator can run against: kmock's emulator made stateful enough.

Stock kmock 0.8 cannot run an operator with a finalizer: it never sets ``resourceVersion``, so kopf's
JSON patch that first tests it fails forever; and it matches every request against its whole request
log, so time grows quadratically with the number of requests. This subclass serves the object
endpoints itself with the apiserver's semantics that kopf and the tests rely on:

* create fills in uid, creationTimestamp, resourceVersion, generation and the namespace from the URL;
  ``generateName`` gets a random suffix; Secret ``stringData`` is folded into base64 ``data``;
* merge, strategic-merge (approximated as merge) and JSON patches, and PUT; a failed JSON-patch test
  is 422, a stale ``metadata.resourceVersion`` is 409; a no-op change bumps nothing;
* ``generation`` changes only when something other than metadata (and status) changes;
* with a ``status`` subresource, status is written only through ``/status`` and ``/status`` writes
  nothing but status;
* DELETE of an object with finalizers only sets ``deletionTimestamp``; the object goes away when its
  last finalizer is removed; finalizers cannot be added once deletion has started;
* list and watch filter by namespace, label and field selectors; watch resumes after
  ``resourceVersion`` (410 Gone when that is older than the kept history) and ends after
  ``timeoutSeconds``;
* kmock's request log is cut to the last ``request_history`` requests.

Opt-in fault injection (off unless a test calls it; see tests/operator/test_faults.py):
``fail_requests`` answers matching requests with an error status (e.g. 503) for a number of requests
or seconds, ``drop_watches`` cuts every open watch connection, and ``forget_history`` ends every open watch
with 410 Gone and makes resuming from any older resourceVersion 410 too (as after an API server
restart or etcd compaction), so clients have to list again.

Not emulated: server-side apply, bookmarks, pagination, admission and schema validation, defaulting,
garbage collection of owned objects, namespace finalization (deleting a namespace keeps its objects).
Only resources registered in ``emulator.resources`` are served. This relies on kmock internals,
hence the exact pin ``kmock==0.8``.
"""
import asyncio
import base64
import bisect
import datetime
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
from kmock._internal import parsing

Obj = dict[str, Any]

# Set by the server only: clients cannot change them with a patch or a PUT.
SERVER_OWNED_METADATA = ("name", "namespace", "uid", "creationTimestamp", "generation",
                         "deletionTimestamp", "deletionGracePeriodSeconds")
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH_TYPE = "application/json-patch+json"
NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # as the apiserver's generateName
NAMESPACES = kmock.resource("v1/namespaces")
SECRETS = kmock.resource("v1/secrets")  # made once: kmock.resource() costs a typing.Protocol check per call


def _parse_path(path: str, _kmock_parse_path=parsing.parse_path) -> parsing.ParsedPath:
    # kmock 0.8 reads /api/v1/namespaces/NAME as the prefix of a namespaced URL, and fails on the bare list URL.
    if m := re.fullmatch(r"/api/v1/namespaces(?:/([^/]+)(?:/(status|finalize))?)?/?", path):
        return parsing.ParsedPath(group="", version="v1", plural="namespaces", name=m[1], subresource=m[2])
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path  # fixes Namespaces for every kmock server of this process; harmless for others


def kube_error(status: int, reason: str, message: str, request: kmock.Request | None = None) -> kmock.KubernetesError:
    details = {"name": request.name, "kind": request.resource.plural} if request and request.resource else {"causes": []}
    return kmock.KubernetesError(status=status, reason=reason, message=message, details=details)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386. Untouched subtrees are shared with the target, never copied."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


ERROR_REASONS = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
                 504: "Timeout"}


@attrs.define(kw_only=True)
class Fault:
    """An injected failure: matching requests get ``status`` until ``remaining`` or ``until`` runs out."""

    status: int
    remaining: int | None  # requests left to fail; None: no count limit
    until: float | None  # event-loop time when it ends; None: no time limit
    match: Callable[[kmock.Request], bool]
    hits: int = 0  # requests failed so far, so a test can prove the fault was really exercised

    def active(self, now: float) -> bool:
        return (self.remaining is None or self.remaining > 0) and (self.until is None or now < self.until)


def label_selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in (t.strip() for t in re.split(r",(?![^()]*\))", selector) if t.strip()):
        if m := re.fullmatch(r"([^\s!=]+)\s*(==|=|!=)\s*(\S*)", term):
            key, op, value = m.groups()
            ok = (labels.get(key) == value) == (op != "!=")
        elif m := re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", term):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
            ok = (labels.get(key) in values) == (op == "in")
        else:
            ok = (term.lstrip("!").strip() in labels) != term.startswith("!")
        if not ok:
            return False
    return True


def field_selector_matches(selector: str, obj: Obj) -> bool:
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        path, op, expected = re.fullmatch(r"([^!=]+?)\s*(==|=|!=)\s*(.*)", term).groups()
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if (str(value if value is not None else "") == expected) != (op != "!="):
            return False
    return True


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    request_history: int = 200  # kmock scans its whole request log on every request
    change_history: int = 50_000  # how far back a watch can resume before it gets 410 Gone

    _last_rv: int = attrs.field(default=0, init=False)
    # (resourceVersion, resource, watch event, the event as a JSON line): encoded once for all watchers.
    _changes: list[tuple[int, kmock.resource, Obj, bytes]] = attrs.field(factory=list, init=False)
    _oldest_resumable_rv: int = attrs.field(default=0, init=False)
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)  # replaced on every change
    _faults: list[Fault] = attrs.field(factory=list, init=False)
    _watch_transports: set[asyncio.BaseTransport] = attrs.field(factory=set, init=False)
    _history_epoch: int = attrs.field(default=0, init=False)  # forget_history() ends the watches of older epochs
    expired_watches: int = attrs.field(default=0, init=False)  # 410 Gone answers sent to watches so far

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # Every apiserver has kube-system from the start; its UID is the operator's cluster id, which
        # start-up must read (controller/startup.py) unless LGCRON_CLUSTER_ID is set.
        self._commit((NAMESPACES, None, "kube-system"), "ADDED", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "kube-system", "uid": str(uuid.uuid4()),
                         "creationTimestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        })

    # ------------------------------------------------------------ opt-in fault injection

    def fail_requests(self, status: int = 503, *, count: int | None = None, seconds: float | None = None,
                      match: Callable[[kmock.Request], bool] | None = None) -> Fault:
        """Answer the next ``count`` requests, or all for ``seconds`` (whichever ends first), with ``status``.

        ``match`` narrows it down (default: every request, discovery and watches included); it gets the
        kmock request (``.method``, ``.resource``, ``.name``, ``.params``, ``.headers``). Returns the
        fault, whose ``hits`` counts the requests it failed.
        """
        if count is None and seconds is None:
            raise ValueError("a fault needs a count or a duration")
        until = asyncio.get_running_loop().time() + seconds if seconds is not None else None
        fault = Fault(status=status, remaining=count, until=until, match=match or (lambda request: True))
        self._faults.append(fault)
        return fault

    def heal(self) -> None:
        """End all injected faults now."""
        self._faults.clear()

    def drop_watches(self) -> int:
        """Cut every open watch connection (a reset, not a clean end of stream); returns how many."""
        dropped = 0
        for transport in list(self._watch_transports):
            if not transport.is_closing():
                transport.abort()
                dropped += 1
        self._watch_transports.clear()
        self._changed.set()  # wake the watch generators, so they notice at once
        self._changed = asyncio.Event()
        return dropped

    def forget_history(self) -> None:
        """Forget all changes so far: every open watch ends with 410 Gone, and so does every watch
        that resumes from an older resourceVersion; the client has to list again."""
        self._history_epoch += 1
        self._changes.clear()
        self._oldest_resumable_rv = self._last_rv
        self._changed.set()
        self._changed = asyncio.Event()

    def _injected_fault(self, request: kmock.Request) -> kmock.KubernetesError | None:
        if not self._faults:
            return None
        now = asyncio.get_running_loop().time()
        self._faults = [fault for fault in self._faults if fault.active(now)]
        for fault in self._faults:
            if fault.match(request):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                reason = ERROR_REASONS.get(fault.status, "InternalError")
                return kube_error(fault.status, reason, f"injected fault: HTTP {fault.status}")
        return None

    # ------------------------------------------------------------ serving

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        del self._requests[:-self.request_history]
        if (fault := self._injected_fault(request)) is not None:
            return await self._render_error(fault)
        if request.resource is None or request.resource.plural is None:
            return await super()._handle(request)  # discovery and non-Kubernetes URLs: kmock's own
        try:
            if request.resource not in self.resources:
                raise kube_error(404, "NotFound", "the server could not find the requested resource")
            return await self._serve(request)(request)
        except kmock.KubernetesError as e:  # answers like a real apiserver's, not failures of the mock
            return await self._render_error(e)

    def _serve(self, request: kmock.Request) -> kmock.Response:
        method, named = request.method, request.name is not None
        if method == kmock.method.GET and request.params.get("watch") in ("true", "1"):
            return kmock.Response(payload=self._watch(request))
        elif method == kmock.method.GET:
            return kmock.Response(payload=self._get(request) if named else self._list(request))
        elif method == kmock.method.POST and not named:
            return kmock.Response(status=201, payload=self._create(request))
        elif method == kmock.method.PATCH and named:
            return kmock.Response(payload=self._patch(request))
        elif method == kmock.method.PUT and named:
            return kmock.Response(payload=self._update(request, self._get(request), request.data))
        elif method == kmock.method.DELETE and named:
            return kmock.Response(payload=self._delete(request))
        raise kube_error(405, "MethodNotAllowed", f"{method.value} is not supported here", request)

    def _get(self, request: kmock.Request) -> Obj:
        key = (request.resource, request.namespace, request.name)
        served_subresources = {None} | ({"status"} & self.resources[request.resource].subresources)
        if key not in self.objects or self.objects[key].deleted or request.subresource not in served_subresources:
            raise kube_error(404, "NotFound", f'{request.resource.plural} "{request.name}" not found', request)
        return self.objects[key].raw

    def _list(self, request: kmock.Request) -> Obj:
        kind = self.resources[request.resource].kind
        return {
            "apiVersion": self._api_version(request.resource), "kind": f"{kind}List" if kind else "List",
            "metadata": {"resourceVersion": str(self._last_rv)},
            "items": [raw for (resource, _, _), obj in self.objects.items()
                      if resource == request.resource and not obj.deleted
                      for raw in [obj.raw] if self._selects(request, raw)],
        }

    def _create(self, request: kmock.Request) -> Obj:
        body, resource = request.data, request.resource
        if not isinstance(body, dict):
            raise kube_error(400, "BadRequest", "the body must be a JSON object", request)
        metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k not in SERVER_OWNED_METADATA}
        name = (body.get("metadata") or {}).get("name")
        if not name and metadata.get("generateName"):
            name = metadata["generateName"] + "".join(secrets.choice(NAME_SUFFIX_CHARS) for _ in range(5))
        if not name:
            raise kube_error(422, "Invalid", "metadata.name or metadata.generateName is required", request)
        key = (resource, request.namespace, name)
        if key in self.objects and not self.objects[key].deleted:
            raise kube_error(409, "AlreadyExists", f'{resource.plural} "{name}" already exists', request)

        info = self.resources[resource]
        obj = {"apiVersion": self._api_version(resource), **({"kind": info.kind} if info.kind else {}), **body}
        if "status" in info.subresources:
            obj.pop("status", None)  # like the apiserver: status is set only via /status
        obj["metadata"] = {
            **metadata, "name": name, **({"namespace": request.namespace} if request.namespace else {}),
            "uid": str(uuid.uuid4()), "generation": 1,
            "creationTimestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return self._commit(key, "ADDED", self._normalize(key, obj))

    def _patch(self, request: kmock.Request) -> Obj:
        old = self._get(request)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type in MERGE_PATCH_TYPES:
            return self._update(request, old, merge_patch(old, request.data))
        elif content_type != JSON_PATCH_TYPE:
            raise kube_error(415, "UnsupportedMediaType", f"unsupported patch type: {content_type!r}", request)
        try:
            return self._update(request, old, jsonpatch.apply_patch(old, request.data, in_place=False))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            raise kube_error(422, "Invalid", f"the JSON patch failed: {e}", request)

    def _update(self, request: kmock.Request, old: Obj, new: Obj) -> Obj:
        key = (request.resource, request.namespace, request.name)
        if not isinstance(new, dict):
            raise kube_error(400, "BadRequest", "the body must be a JSON object", request)
        requested_rv = (new.get("metadata") or {}).get("resourceVersion")
        has_status_subresource = "status" in self.resources[request.resource].subresources
        if has_status_subresource:  # each endpoint writes only its own part; the other part stays as it was
            writes = (lambda k: k == "status") if request.subresource == "status" else (lambda k: k != "status")
            new = {**{k: v for k, v in old.items() if not writes(k)}, **{k: v for k, v in new.items() if writes(k)}}
        old_meta, new_meta = old["metadata"], new.get("metadata") or {}
        if requested_rv not in (None, old_meta["resourceVersion"]):
            raise kube_error(409, "Conflict", "the object has been modified; please apply your changes "
                                              "to the latest version and try again", request)
        if old_meta.get("deletionTimestamp") and set(new_meta.get("finalizers", [])) - set(old_meta.get("finalizers", [])):
            raise kube_error(422, "Invalid", "no new finalizers can be added if the object is being deleted", request)

        new_meta = {k: v for k, v in new_meta.items() if k not in SERVER_OWNED_METADATA}
        new_meta |= {k: old_meta[k] for k in (*SERVER_OWNED_METADATA, "resourceVersion") if k in old_meta}
        new = self._normalize(key, {**new, "metadata": new_meta})
        unversioned = {"metadata", "status"} if has_status_subresource else {"metadata"}
        if {k: v for k, v in new.items() if k not in unversioned} != {k: v for k, v in old.items() if k not in unversioned}:
            new["metadata"]["generation"] = old_meta.get("generation", 0) + 1
        if new == old:
            return old  # like the apiserver: no new resourceVersion, no watch event
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
            return self._commit(key, "DELETED", new)
        return self._commit(key, "MODIFIED", new)

    def _delete(self, request: kmock.Request) -> Obj:
        key, old = (request.resource, request.namespace, request.name), self._get(request)
        if not old["metadata"].get("finalizers"):
            return self._commit(key, "DELETED", old)
        elif old["metadata"].get("deletionTimestamp"):
            return old
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        deleting = {**old["metadata"], "deletionTimestamp": now, "deletionGracePeriodSeconds": 0}
        return self._commit(key, "MODIFIED", {**old, "metadata": deleting})

    async def _watch(self, request: kmock.Request) -> AsyncIterator[Obj | bytes]:
        since = request.params.get("resourceVersion", "0") or "0"
        epoch = self._history_epoch
        timeout = request.params.get("timeoutSeconds")
        deadline = asyncio.get_running_loop().time() + float(timeout) if timeout else None
        yield b""  # sends the headers now: clients wait for them before they read any events
        if since == "0":  # like the apiserver: start from now with the existing objects as ADDED
            position = self._last_rv
            for obj in self._list(request)["items"]:
                yield {"type": "ADDED", "object": obj}
        else:
            position = int(since)

        transport = request._raw_request.transport if request._raw_request is not None else None
        if transport is not None:
            self._watch_transports.add(transport)
        try:
            while transport is None or not transport.is_closing():  # aiohttp does not cancel us on disconnect
                if position < self._oldest_resumable_rv or epoch != self._history_epoch:
                    self.expired_watches += 1
                    yield {"type": "ERROR", "object": {
                        "apiVersion": "v1", "kind": "Status", "status": "Failure", "code": 410, "reason": "Expired",
                        "message": f"too old resource version: {position} ({self._oldest_resumable_rv})"}}
                    return
                start = bisect.bisect_right(self._changes, position, key=lambda change: change[0])
                changes, changed = self._changes[start:], self._changed
                for rv, resource, event, line in changes:
                    position = rv
                    if resource == request.resource and self._selects(request, event["object"]):
                        yield line
                if not changes:
                    try:
                        async with asyncio.timeout_at(deadline):
                            await asyncio.wait_for(changed.wait(), timeout=1.0)
                    except TimeoutError:
                        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
                            return
        finally:
            self._watch_transports.discard(transport)

    def _commit(self, key: tuple[kmock.resource, str | None, str], event_type: str, obj: Obj) -> Obj:
        self._last_rv += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._last_rv)}}
        if event_type == "DELETED":
            self.objects[key].delete()
        elif key in self.objects and event_type == "ADDED":
            self.objects[key].create(obj)  # re-created after a deletion: the history continues
        elif key in self.objects:
            self.objects[key].history.append(obj)
        else:
            self.objects[key] = obj

        event = {"type": event_type, "object": obj}
        self._changes.append((self._last_rv, key[0], event, json.dumps(event).encode() + b"\n"))
        if len(self._changes) > self.change_history:
            del self._changes[:self.change_history // 2]
            self._oldest_resumable_rv = self._changes[0][0] - 1
        self._changed.set()
        self._changed = asyncio.Event()
        return obj

    def _normalize(self, key: tuple[kmock.resource, str | None, str], obj: Obj) -> Obj:
        # Like the apiserver: empty metadata collections are omitted, Secrets store only `data`.
        obj = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if v not in ({}, [], None)}}
        if key[0] == SECRETS and "stringData" in obj:
            encoded = {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()}
            obj["data"] = {**obj.get("data", {}), **encoded}
        return obj

    def _selects(self, request: kmock.Request, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        return ((request.namespace is None or meta.get("namespace") == request.namespace)
                and (request.name is None or meta.get("name") == request.name)
                and label_selector_matches(request.params.get("labelSelector", ""), meta.get("labels", {}))
                and field_selector_matches(request.params.get("fieldSelector", ""), obj))

    @staticmethod
    def _api_version(resource: kmock.resource) -> str:
        return f"{resource.group}/{resource.version}" if resource.group else resource.version
