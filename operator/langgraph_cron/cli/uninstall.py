"""`lgcron uninstall`: the safe first step of an uninstall, run while the operator is still running.

1. Delete every LangGraphCron (cluster-wide, or in the -n namespaces) and wait until they are gone:
   the running operator's finalizer deletes each cron from its Agent Server, then lets it go.
2. Ask each Agent Server those LangGraphCrons used (read before deleting them, through the connector,
   with the key the operator would send) which of their crons are still there, and report them.
3. Report what is left: LangGraphCrons still Terminating and why (their finalizer, their Ready reason;
   most often: the operator is not running).
4. Cluster-wide only, and only when nothing is left: delete the ValidatingWebhookConfiguration and the
   webhook's TLS Secret the operator created at run time (neither `kubectl delete -k` nor `helm
   uninstall` removes them; with failurePolicy Fail a leftover configuration would block writes to
   lgcron.io objects); with --crds, the server objects, then the CRDs, refused while any LangGraphCron
   remains (deleting the CRDs under live crons is what strands them).

Then stop the operator (`kubectl delete -k manifests/`, `helm uninstall`). The README's "Uninstall".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import httpx

from langgraph_cron.cli.cluster import Cluster, CronServer, cron_server
from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_RUN_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    exit_codes_help,
    settings_from_env,
)
from langgraph_cron.clients.agent_server import AgentServerError, Cron
from langgraph_cron.core.crd import all_crds
from langgraph_cron.core.models import (
    CLUSTER_SERVER_PLURAL,
    GROUP,
    PLURAL,
    SERVER_PLURAL,
    VERSION,
)
from langgraph_cron.core.orphans import orphan_table
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import CLUSTER_KEY, UID_KEY
from langgraph_cron.core.webhook import DEFAULT_CONFIGURATION, DEFAULT_TLS_SECRET

DEFAULT_OPERATOR_NAMESPACE = "lgcron-system"  # manifests/ and the chart's documented namespace
WEBHOOK_CONFIGURATIONS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
POLL = 1.0  # seconds between listings while waiting


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    uninstall = commands.add_parser(
        "uninstall",
        help="delete every LangGraphCron, wait until their crons are gone from the Agent Servers, report what is left",
        description=(
            "The first step of an uninstall, while the operator still runs (its finalizers delete the crons): "
            "delete every LangGraphCron (or those of the -n namespaces), wait until they are gone, then ask each "
            "Agent Server they used for crons still there, and report LangGraphCrons still Terminating and why. "
            "Cluster-wide, once nothing is left, it also deletes the ValidatingWebhookConfiguration and the TLS "
            "Secret the operator created at run time (--keep-webhook keeps them), and with --crds the server "
            "objects and the CRDs (refused while any LangGraphCron remains). Then remove the operator: "
            "`kubectl delete -k manifests/` or `helm uninstall`. Uses your kubeconfig (delete on the lgcron.io "
            "resources; for the webhook, delete on validatingwebhookconfigurations and on the Secret; for --crds, "
            "on customresourcedefinitions). A cron of the operator's default server is checked with "
            "LGCRON_SERVER_URL and LGCRON_API_KEY as set in your environment, as `lgcron history` does."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, 5, notes={
            EXIT_OK: "every LangGraphCron is gone, no cron of theirs is left on any Agent Server (and what was asked "
                     "for: the webhook's objects, the CRDs, is deleted)",
            EXIT_RUN_FAILED: "something is left: a LangGraphCron still Terminating after --timeout, a cron still on "
                             "an Agent Server, a server that could not be checked, or the CRDs refused or still "
                             "Terminating; each is named on stderr",
            EXIT_USAGE: "usage or configuration error (e.g. --crds with -n)",
            EXIT_REJECTED: "the Kubernetes API refused (RBAC: the line names the verb and resource to grant)",
            EXIT_UNREACHABLE: "the Kubernetes API did not answer",
        }),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    uninstall.add_argument(
        "-n", "--namespace", action="append", metavar="NS",
        help="only the LangGraphCrons of this namespace (repeatable; default: all namespaces). The webhook's "
             "objects and the CRDs are cluster-wide: they are left alone",
    )
    uninstall.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                           help="how long to wait for the LangGraphCrons (and the CRDs) to be gone (default: 120)")
    uninstall.add_argument("--crds", action="store_true",
                           help="at the end, delete the LangGraphServers, ClusterLangGraphServers and the three CRDs; "
                                "refused while any LangGraphCron remains")
    uninstall.add_argument("--keep-webhook", action="store_true",
                           help="keep the ValidatingWebhookConfiguration and the webhook's TLS Secret")
    uninstall.add_argument(
        "--webhook-configuration", metavar="NAME",
        default=os.environ.get("LGCRON_WEBHOOK_CONFIGURATION") or DEFAULT_CONFIGURATION,
        help=f"the operator's ValidatingWebhookConfiguration (default: LGCRON_WEBHOOK_CONFIGURATION, "
             f"else {DEFAULT_CONFIGURATION})",
    )
    uninstall.add_argument(
        "--webhook-tls-secret", metavar="NAMESPACE/NAME",
        default=os.environ.get("LGCRON_WEBHOOK_TLS_SECRET") or f"{DEFAULT_OPERATOR_NAMESPACE}/{DEFAULT_TLS_SECRET}",
        help=f"the webhook's TLS Secret (default: LGCRON_WEBHOOK_TLS_SECRET, else "
             f"{DEFAULT_OPERATOR_NAMESPACE}/{DEFAULT_TLS_SECRET}; the chart: <release namespace>/<fullname>-webhook-tls, as its Deployment sets LGCRON_WEBHOOK_TLS_SECRET)",
    )
    uninstall.add_argument(
        "--cluster", metavar="ID",
        help="cluster id as tagged by the operator (default: LGCRON_CLUSTER_ID, else the kube-system namespace UID)",
    )
    uninstall.set_defaults(func=command)
    return uninstall


@dataclass
class Report:
    deleted: list[str] = field(default_factory=list)  # NS/NAME of the LangGraphCrons deleted
    left: list[str] = field(default_factory=list)  # lines: LangGraphCrons still there, and why
    servers: list[str] = field(default_factory=list)  # lines: each Agent Server's answer
    crons_left: list[Cron] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # lines: what could not be checked or deleted
    cleanup: list[str] = field(default_factory=list)  # lines: webhook objects, server objects, CRDs

    @property
    def clean(self) -> bool:
        return not (self.left or self.crons_left or self.problems)


def command(args: argparse.Namespace) -> int:
    if args.crds and args.namespace:
        raise CliError("--crds deletes cluster-wide CRDs: it cannot be combined with -n (other namespaces' "
                       "LangGraphCrons would be deleted with them, their crons stranded)")
    if args.timeout <= 0:
        raise CliError("--timeout must be positive")
    secret = args.webhook_tls_secret.split("/")
    if len(secret) != 2 or not all(secret):
        raise CliError(f"--webhook-tls-secret {args.webhook_tls_secret!r}: expected NAMESPACE/NAME")
    settings = settings_from_env()
    report = asyncio.run(_uninstall(args, settings))
    if report.deleted:
        print(f"deleted {len(report.deleted)} LangGraphCrons")
    for line in report.servers:
        print(line)
    if report.crons_left:
        print(orphan_table(report.crons_left))
    for line in report.cleanup:
        print(line)
    for line in report.left + report.problems:
        print(f"lgcron uninstall: error: {line}", file=sys.stderr)
    if report.clean:
        scope = f"in namespaces {', '.join(args.namespace)}" if args.namespace else "in the cluster"
        print(f"no LangGraphCron is left {scope}, and none of their crons on any Agent Server")
        if not args.namespace:
            print("next: remove the operator (`kubectl delete -k manifests/` or `helm uninstall`)"
                  + ("" if args.crds else ", then the CRDs (`kubectl delete -k crds/`)"))
        return EXIT_OK
    return EXIT_RUN_FAILED


async def _uninstall(args: argparse.Namespace, settings: Settings) -> Report:
    report = Report()
    async with Cluster.open() as cluster, contextlib.AsyncExitStack() as stack:
        if await cluster.call(cluster.kube.api_group(), verb="get", resource="the lgcron.io API group") is None:
            report.servers.append(
                "the lgcron.io CRDs are not installed: no LangGraphCron to delete. If they were deleted while crons "
                "existed, those crons may still run on their Agent Servers: apply the CRDs again (`kubectl apply -k "
                "crds/`) and run `lgcron audit --delete` for each server")
            if not args.namespace and not args.keep_webhook:
                await _delete_webhook(cluster, args, report)
            return report
        chosen = await _cluster_id(cluster, args, settings)
        crons = await _list(cluster, args.namespace)
        # Each cron's server first (its spec and status are gone once it is deleted), kept open to ask it later.
        servers: dict[str, tuple[CronServer, set[str]]] = {}
        for body in crons:
            meta = body["metadata"]
            try:
                server = await stack.enter_async_context(cron_server(cluster, body, settings))
            except CliError as exc:
                report.problems.append(f"cannot check the Agent Server of LangGraphCron "
                                       f"{meta['namespace']}/{meta['name']}: {exc.message}")
                continue
            where = _where(server)
            servers.setdefault(where, (server, set()))[1].add(meta["uid"])
        for body in crons:
            meta = body["metadata"]
            if meta.get("deletionTimestamp") is None:
                path = f"/apis/{GROUP}/{VERSION}/namespaces/{meta['namespace']}/{PLURAL}/{meta['name']}"
                await cluster.call(cluster.kube.delete_path(path), verb="delete", resource=PLURAL,
                                   namespace=meta["namespace"])
            report.deleted.append(f"{meta['namespace']}/{meta['name']}")
        deleted_uids = {body["metadata"]["uid"] for body in crons}
        remaining = await _wait_gone(cluster, args.namespace, deleted_uids, args.timeout)
        report.left += [_why_left(body) for body in remaining]
        for where, (server, uids) in servers.items():
            try:
                found = await server.client.search_all(metadata={CLUSTER_KEY: chosen})
            except AgentServerError as exc:
                report.problems.append(f"cannot check {where}: {server.error(exc).message}")
                continue
            mine = [c for c in found if (c.metadata or {}).get(CLUSTER_KEY) == chosen]
            left = [c for c in mine if (c.metadata or {}).get(UID_KEY) in deleted_uids]
            report.crons_left += left
            report.servers.append(f"{where}: {len(left)} crons of the deleted LangGraphCrons left "
                                  f"({len(uids)} LangGraphCrons used it; {len(mine)} crons of cluster {chosen} on it)")
        if report.crons_left:
            report.problems.append(f"{len(report.crons_left)} crons of deleted LangGraphCrons are still on their Agent "
                                   f"Servers (listed above): once the LangGraphCrons are gone, `lgcron audit --delete "
                                   f"--server URL` (or --server-ref) deletes them")
        if args.namespace or not report.clean:
            if not args.namespace:
                report.cleanup.append("the webhook's objects and the CRDs are kept while something is left")
            return report
        if not args.keep_webhook:
            await _delete_webhook(cluster, args, report)
        if args.crds:
            await _delete_crds(cluster, args.timeout, report)
    return report


async def _cluster_id(cluster: Cluster, args: argparse.Namespace, settings: Settings) -> str:
    """The operator's own derivation (as `lgcron audit`), so both agree on which crons are this cluster's."""
    chosen = args.cluster or (settings.cluster_id if "LGCRON_CLUSTER_ID" in os.environ else None)
    if chosen is None:
        chosen = await cluster.kube.namespace_uid("kube-system") or settings.cluster_id
        if chosen == settings.cluster_id:
            print(f"lgcron uninstall: warning: cannot read namespace kube-system; using cluster id {chosen!r} as the "
                  "operator does (pass --cluster to choose)", file=sys.stderr)
    return chosen


def _where(server: CronServer) -> str:
    url = str(httpx.URL(server.connection.url).copy_with(username=None, password=None))  # no credentials on screen
    return f"{url} (via {server.connection.via})" if server.connection.via else url


async def _list(cluster: Cluster, namespaces: Collection[str] | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for namespace in namespaces or [None]:
        items += await cluster.call(cluster.kube.list_langgraphcrons(namespace), verb="list", resource=PLURAL,
                                    namespace=namespace)
    return items


async def _wait_gone(cluster: Cluster, namespaces: Collection[str] | None, uids: set[str],
                     timeout: float) -> list[dict[str, Any]]:
    """Poll until none of `uids` is listed, or `timeout`: what is still there."""
    deadline = time.monotonic() + timeout
    while True:
        left = [body for body in await _list(cluster, namespaces) if body["metadata"]["uid"] in uids]
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(POLL)


def _why_left(body: dict[str, Any]) -> str:
    meta = body["metadata"]
    name = f"LangGraphCron {meta['namespace']}/{meta['name']}"
    finalizers = meta.get("finalizers") or []
    if not meta.get("deletionTimestamp"):
        return f"{name} is not being deleted (created while uninstalling?): run `lgcron uninstall` again"
    ready = next((c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    state = f"; its Ready condition: {ready.get('reason')}: {ready.get('message')}" if ready else ""
    return (f"{name} is still Terminating (since {meta['deletionTimestamp']}), held by finalizer(s) "
            f"{', '.join(finalizers) or '-'}: the operator removes it once its cron is deleted from its Agent Server. "
            f"Is the operator running (and able to reach that server)?{state}")


async def _delete(cluster: Cluster, path: str, *, resource: str, namespace: str | None = None) -> bool:
    """DELETE; False when it was not there."""
    return await cluster.call(cluster.kube.delete_path(path), verb="delete", resource=resource,
                              namespace=namespace) is not None


async def _delete_webhook(cluster: Cluster, args: argparse.Namespace, report: Report) -> None:
    name = args.webhook_configuration
    deleted = await _delete(cluster, f"{WEBHOOK_CONFIGURATIONS}/{name}", resource="validatingwebhookconfigurations")
    report.cleanup.append(f"ValidatingWebhookConfiguration {name}: {'deleted' if deleted else 'not found'}")
    namespace, secret = args.webhook_tls_secret.split("/")
    deleted = await _delete(cluster, f"/api/v1/namespaces/{namespace}/secrets/{secret}", resource="secrets",
                            namespace=namespace)
    report.cleanup.append(f"Secret {namespace}/{secret} (the webhook's TLS): {'deleted' if deleted else 'not found'}")


async def _delete_crds(cluster: Cluster, timeout: float, report: Report) -> None:
    """The server objects (their finalizers run while the operator does), then the CRDs; never while a
    LangGraphCron remains."""
    prefix = f"/apis/{GROUP}/{VERSION}"

    async def server_objects() -> list[tuple[str, dict[str, Any]]]:
        found = []
        for plural in (SERVER_PLURAL, CLUSTER_SERVER_PLURAL):
            page = await cluster.call(cluster.kube.get_path(f"{prefix}/{plural}"), verb="list", resource=plural)
            found += [(plural, item) for item in (page or {}).get("items") or []]
        return found

    deadline = time.monotonic() + timeout
    for plural, item in await server_objects():
        meta = item["metadata"]
        namespace = meta.get("namespace")
        path = f"{prefix}/namespaces/{namespace}/{plural}/{meta['name']}" if namespace else \
            f"{prefix}/{plural}/{meta['name']}"
        await _delete(cluster, path, resource=plural, namespace=namespace)
        report.cleanup.append(f"{item.get('kind') or plural} {namespace + '/' if namespace else ''}{meta['name']}: "
                              "deleted")
    # Wait for their finalizers before touching the CRDs: a CRD being deleted is no longer patchable, so kopf
    # could not remove a finalizer then, and the CRD would stay Terminating for good.
    while (held := await server_objects()) and time.monotonic() < deadline:
        await asyncio.sleep(POLL)
    if held:
        names = ", ".join(f"{item['kind']} {item['metadata']['name']}" for _, item in held)
        report.problems.append(f"the CRDs are kept: server objects still Terminating after {timeout:g}s ({names}): "
                               "is the operator running?")
        return
    if remaining := await _list(cluster, None):
        report.problems.append(f"the CRDs are kept: {len(remaining)} LangGraphCrons exist (deleting the CRDs now "
                               "would strand their crons on the Agent Servers); run `lgcron uninstall --crds` again")
        return
    names = sorted(crd["metadata"]["name"] for crd in all_crds().values())
    for name in names:
        await _delete(cluster, f"{CRDS}/{name}", resource="customresourcedefinitions")
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for name in names:
            crd = await cluster.call(cluster.kube.get_path(f"{CRDS}/{name}"), verb="get",
                                     resource="customresourcedefinitions")
            if crd is not None:
                left.append(name)
        if not left or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL)
    for name in names:
        report.cleanup.append(f"CustomResourceDefinition {name}: {'still Terminating' if name in left else 'deleted'}")
    if left:
        report.problems.append(f"CRDs still Terminating after {timeout:g}s: {', '.join(left)} (an object of theirs "
                               "is held by a finalizer: is the operator running?)")
