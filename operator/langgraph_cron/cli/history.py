"""`lgcron history`: the last runs of one cron, with result, duration and error line.

From a cluster (NAMESPACE/NAME, read with your kubeconfig): the resource's server through the
connector, with the key bound to it (a server object's Secret or the resource's own, read with your
own rights; LGCRON_API_KEY only for LGCRON_SERVER_URL), or its Jobs for the cronJob backend. From a
file (-f, as `lgcron apply` made it): LGCRON_SERVER_URL or --server. What it lists is what the
backend keeps: spec.runHistory's limits of a stateless cron's runs, a thread cron's runs on its
thread, a CronJob's Jobs.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from langgraph_cron.cli.cluster import Cluster, cron_server, cron_spec, split_ref
from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    exit_codes_help,
    settings_from_env,
)
from langgraph_cron.clients.agent_server import (
    AgentServerClient,
    AgentServerError,
    ServerUnavailable,
)
from langgraph_cron.core import history
from langgraph_cron.core.models import LangGraphCronSpec
from langgraph_cron.core.settings import Settings
from langgraph_cron.core.spec import NAME_KEY, NAMESPACE_KEY, UID_KEY, InvalidSpec
from langgraph_cron.engine.backends.cronjob import CronJobBackend
from langgraph_cron.engine.connector import Connector

COLUMNS = ("RUN", "THREAD", "RESULT", "STARTED", "DURATION", "ERROR")


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    runs = commands.add_parser(
        "history",
        help="the last runs of a cron: result, duration, error line",
        description=(
            "List the runs a cron's backend keeps (spec.runHistory's limits, a thread cron's thread, a CronJob's "
            "Jobs), newest first. NAMESPACE/NAME reads the LangGraphCron with your kubeconfig and asks its server "
            "with the key bound to it (read with your own rights; a cron of the operator's default server: the "
            "URL in its status, with LGCRON_API_KEY only if LGCRON_SERVER_URL is that URL); -f FILE asks "
            "LGCRON_SERVER_URL (or --server) about a cron made by `lgcron apply`."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, 5),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    runs.add_argument("ref", nargs="?", metavar="NAMESPACE/NAME", help="the LangGraphCron")
    runs.add_argument("-f", "--filename", action="append", metavar="PATH", help="the file of a cron made by `lgcron apply`")
    runs.add_argument("--server", metavar="URL", help="file mode: Agent Server URL (default: LGCRON_SERVER_URL)")
    runs.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    runs.set_defaults(func=command)
    return runs


def _row(run: history.ObservedRun) -> tuple[str, ...]:
    duration = f"{(run.finish - run.start).total_seconds():.1f}s" if run.finish else "-"
    return (run.run_id or run.job_name or "-", run.thread_id or "-", run.result, _when(run.start), duration,
            run.error or "")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def table(runs: list[history.ObservedRun], limit: int) -> str:
    rows = [COLUMNS] + [_row(run) for run in sorted(runs, key=lambda r: r.start, reverse=True)[:limit]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join("   ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip() for row in rows)


async def server_runs(client: AgentServerClient, spec: LangGraphCronSpec, tags: dict[str, str]) -> list[history.ObservedRun]:
    """The runs the server keeps for this cron: a thread cron's on its thread, else its kept threads'."""
    if spec.thread_id:
        raw = await client.thread_runs_raw(spec.thread_id, limit=100)
        return [run for run in (history.run_from_raw(r) for r in raw if _tagged(r, tags)) if run is not None]
    threads = await client.search_threads_raw(
        metadata=tags, limit=100, select=["thread_id", "status", "metadata", "created_at", "updated_at"])
    runs = []
    for thread in threads:
        for raw in await client.thread_runs_raw(thread["thread_id"], limit=10):
            run = history.run_from_raw(raw)
            if run is not None and run.failed:
                run = history.with_error(run, await client.get_thread_raw(thread["thread_id"]),
                                         secrets=client.secret_values)
            if run is not None:
                runs.append(run)
    return runs


def _tagged(run: Mapping[str, Any], tags: dict[str, str]) -> bool:
    metadata = run.get("metadata") or {}
    return all(metadata.get(k) == v for k, v in tags.items())


def command(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    if args.server:
        settings = settings.model_copy(update={"server_url": args.server})
    if args.filename:
        runs = asyncio.run(_from_files(args.filename, settings))
    else:
        namespace, name = split_ref(args.ref)
        runs = asyncio.run(_from_cluster(namespace, name, settings))
    print(table(runs, args.limit) if runs else "no runs kept (see spec.runHistory; a cron that has not run yet has none)")
    return EXIT_OK


async def _from_files(filenames: list[str], settings: Settings) -> list[history.ObservedRun]:
    from langgraph_cron.core import files

    documents = files.load_documents(filenames)
    if len(documents) != 1:
        raise CliError(f"-f must name exactly one LangGraphCron, found {len(documents)}")
    [document] = documents
    spec = files.check(document)
    connector = Connector(settings)  # no Kubernetes: LGCRON_API_KEY, and only where it is bound
    try:
        connection = connector.resolve(spec, document.namespace)
        client = await connector.client_for(connection)
        return await server_runs(client, spec, {NAMESPACE_KEY: document.namespace, NAME_KEY: document.name})
    except InvalidSpec as exc:
        raise CliError(f"{document.where}: {exc}", EXIT_USAGE) from None
    except AgentServerError as exc:
        code = EXIT_UNREACHABLE if isinstance(exc, ServerUnavailable) else EXIT_REJECTED
        raise CliError(f"the Agent Server {'did not answer' if code == EXIT_UNREACHABLE else 'refused'}: {exc}",
                       code) from None
    finally:
        await connector.aclose()


async def _from_cluster(namespace: str, name: str, settings: Settings) -> list[history.ObservedRun]:
    async with Cluster.open() as cluster:
        body = await cluster.get_cron(namespace, name)
        uid = body["metadata"]["uid"]
        if cron_spec(body).backend == CronJobBackend.name:
            jobs = await cluster.call(cluster.kube.list_jobs(namespace, f"{UID_KEY}={uid}"), verb="list",
                                      resource="jobs", namespace=namespace)
            return history.runs_from_jobs(jobs)
        async with cron_server(cluster, body, settings) as server:
            try:
                return await server_runs(server.client, cron_spec(body), {UID_KEY: uid})
            except AgentServerError as exc:
                raise server.error(exc) from None
