"""`lgcron audit`: list (and with --delete remove) this cluster's crons whose LangGraphCron no longer
exists. The decision is core/orphans.py; the LangGraphCrons are read with your kubeconfig, and a
server object's URL and key (--server-ref) come through the connector, as the operator's."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

import httpx

from langgraph_cron.cli.cluster import Cluster, secret_error
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
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    Cron,
    CronNotFound,
    ServerUnavailable,
)
from langgraph_cron.clients.kube import SecretNotFound
from langgraph_cron.core.connections import ServerKey
from langgraph_cron.core.models import CLUSTER_SERVER_KIND, SERVER_KIND
from langgraph_cron.core.orphans import find_orphans, orphan_table
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import CLUSTER_KEY, InvalidSpec
from langgraph_cron.engine.connector import Connector


@dataclass
class AuditResult:
    checked: int  # crons of this cluster on the server
    orphans: list[Cron]
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "CRON_ID: reason" of deletions that failed


async def run_audit(
    client: AgentServerClient,
    live_uids: Callable[[], Awaitable[Collection[str]]],
    cluster: str,
    *,
    namespaces: Collection[str] | None = None,
    delete: bool = False,
) -> AuditResult:
    # Crons first, resources second: a cron is made only after its resource exists, so any cron
    # found here has its resource in the later listing unless that resource is really gone.
    crons = await client.search_all(metadata={CLUSTER_KEY: cluster})
    orphans = find_orphans(crons, await live_uids(), cluster, namespaces=namespaces)
    result = AuditResult(checked=len(crons), orphans=orphans)
    for cron in orphans if delete else ():
        try:
            await client.delete(cron.cron_id)
        except CronNotFound:
            pass  # gone already is what we wanted
        except AgentServerError as exc:
            result.failed.append(f"{cron.cron_id}: {exc}")
            continue
        result.deleted.append(cron.cron_id)
    return result


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    audit = commands.add_parser(
        "audit",
        help="list (or delete) crons whose LangGraphCron no longer exists",
        description=(
            "Find orphaned crons on an Agent Server: crons the operator of this cluster made (tagged lgcron.io/uid "
            "and lgcron.io/cluster) whose LangGraphCron no longer exists, e.g. after its finalizer was removed by "
            "hand. Needs 'list' on LangGraphCrons (KUBECONFIG or in-cluster credentials). Crons of other "
            "clusters, of `lgcron apply` and crons tagged lgcron.io/released are never listed. The API key comes from "
            "LGCRON_API_KEY, or with --server-ref from the server object's Secret (read with your own rights)."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, 5, notes={
            EXIT_OK: "no orphan is left (none found, or all deleted)",
            EXIT_RUN_FAILED: "orphans were found (and not all deleted)",
            EXIT_USAGE: "usage or configuration error; also an Agent Server named by --server or "
                        "LGCRON_SERVER_URL that does not answer",
            EXIT_UNREACHABLE: "the Kubernetes API, or the server of --server-ref, did not answer",
        }),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("--server", metavar="URL", help="Agent Server URL (default: LGCRON_SERVER_URL)")
    audit.add_argument(
        "--server-ref", metavar="REF",
        help="audit the server of a server object, with its key: clgs/NAME (ClusterLangGraphServer) or "
             "lgs/NAMESPACE/NAME (LangGraphServer); needs read access to it and its Secret",
    )
    audit.add_argument(
        "--cluster",
        metavar="ID",
        help="cluster id as tagged by the operator (default: LGCRON_CLUSTER_ID, else the kube-system namespace UID)",
    )
    audit.add_argument(
        "-n", "--namespace", action="append", metavar="NS",
        help="only crons of this namespace, listing LangGraphCrons only there (repeatable; default: all namespaces)",
    )
    audit.add_argument("--delete", action="store_true", help="delete the orphaned crons")
    audit.set_defaults(func=command)
    return audit


def server_key(ref: str) -> ServerKey:
    """clgs/NAME or lgs/NAMESPACE/NAME (long forms and kinds accepted too)."""
    parts = ref.split("/")
    if parts[0] in ("clgs", "clusterlanggraphserver", CLUSTER_SERVER_KIND) and len(parts) == 2 and parts[1]:
        return ServerKey(CLUSTER_SERVER_KIND, None, parts[1])
    if parts[0] in ("lgs", "langgraphserver", SERVER_KIND) and len(parts) == 3 and all(parts[1:]):
        return ServerKey(SERVER_KIND, parts[1], parts[2])
    raise CliError(f"--server-ref {ref!r}: expected clgs/NAME or lgs/NAMESPACE/NAME")


def command(args: argparse.Namespace) -> int:
    """Print the orphans (and delete them); 0 when none are left, 1 otherwise."""
    settings = settings_from_env()
    if args.server_ref is not None:
        if args.server:
            raise CliError("--server and --server-ref exclude each other")
        key = server_key(args.server_ref)
    elif not (args.server or settings.server_url):
        raise CliError("no Agent Server: pass --server URL or --server-ref REF, or set LGCRON_SERVER_URL")
    else:
        try:
            httpx.URL(args.server or settings.server_url)
        except httpx.InvalidURL as exc:
            raise CliError(f"invalid Agent Server URL: {exc}") from None
        key = None
    chosen, where, result = asyncio.run(_audit(args, settings, key))
    if result.orphans:
        print(orphan_table(result.orphans))
    for failure in result.failed:
        print(f"lgcron audit: error: cannot delete cron {failure}", file=sys.stderr)
    scope = f"of cluster {chosen} on {where} ({result.checked} crons of this cluster checked)"
    if not result.orphans:
        print(f"no orphaned crons {scope}")
    elif args.delete:
        print(f"deleted {len(result.deleted)} of {len(result.orphans)} orphaned crons {scope}")
    else:
        print(f"{len(result.orphans)} orphaned crons {scope}; --delete removes them")
    return EXIT_RUN_FAILED if result.orphans and (not args.delete or result.failed) else EXIT_OK


async def _audit(args: argparse.Namespace, settings: Settings, key: ServerKey | None) -> tuple[str, str, AuditResult]:
    async with Cluster.open() as cluster:
        connector = Connector(settings, kube=cluster.kube)
        try:
            if key is None:
                url = args.server or settings.server_url or ""
                # LGCRON_API_KEY, as always for this command (the user chose the URL and the key).
                client = connector.client(url, settings.api_key.get_secret_value() if settings.api_key else None)
            else:
                client = await _server_ref_client(cluster, connector, key)
            # The operator's own derivation (controller start-up), so both agree on which crons are this cluster's.
            chosen = args.cluster or (settings.cluster_id if "LGCRON_CLUSTER_ID" in os.environ else None)
            if chosen is None:
                chosen = await cluster.kube.namespace_uid("kube-system") or settings.cluster_id
                if chosen == settings.cluster_id:
                    print(f"lgcron audit: warning: cannot read namespace kube-system; using cluster id {chosen!r} "
                          "as the operator does (pass --cluster to choose)", file=sys.stderr)
            result = await run_audit(client, lambda: _live_uids(cluster, args.namespace), chosen,
                                     namespaces=args.namespace, delete=args.delete)
        except AgentServerError as exc:
            raise CliError(str(exc), EXIT_UNREACHABLE if isinstance(exc, ServerUnavailable) else EXIT_REJECTED) from None
        finally:
            await connector.aclose()
    where = str(httpx.URL(client.base_url).copy_with(username=None, password=None))  # no credentials on screen
    return chosen, where, result


async def _server_ref_client(cluster: Cluster, connector: Connector, key: ServerKey) -> AgentServerClient:
    """The client of a server object's URL with its key (read with your own rights), via the connector."""
    body = await cluster.server_object(key)
    if body is None:
        where = f" in namespace {key.namespace}" if key.namespace else ""
        raise CliError(f"{key.kind} {key.name}{where} not found", EXIT_USAGE)
    try:
        # No allowlist applies to the caller's own choice of server object (LGCRON_ALLOWED_SERVER_URLS
        # is the operator's limit on tenants): the URL and key are the object's.
        connection = connector.for_server_object(body)
    except InvalidSpec as exc:
        raise CliError(f"{key}: {exc}", EXIT_USAGE) from None
    try:
        return await connector.client_for(connection)
    except SecretNotFound as exc:
        raise secret_error(exc, connection) from None
    except InvalidSpec as exc:
        raise CliError(f"{key}: {exc}", EXIT_USAGE) from None


async def _live_uids(cluster: Cluster, namespaces: Collection[str] | None) -> set[str]:
    """UIDs of all LangGraphCrons (cluster-wide, or in the given namespaces)."""
    uids: set[str] = set()
    for namespace in namespaces or [None]:
        items = await cluster.call(cluster.kube.list_langgraphcrons(namespace), verb="list",
                                   resource="langgraphcrons", namespace=namespace)
        uids.update(item["metadata"]["uid"] for item in items)
    return uids
