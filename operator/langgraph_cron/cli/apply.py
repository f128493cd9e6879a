"""`lgcron apply -f` and `lgcron delete -f`: reconcile LangGraphCron files straight into an Agent
Server, no Kubernetes, through the operator's own reconcile logic (engine/files.py)."""

from __future__ import annotations

import argparse
import asyncio

from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    exit_codes_help,
    settings_from_env,
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    for verb, summary in (
        ("apply", "create or update the files' crons directly on an Agent Server, without Kubernetes"),
        ("delete", "delete the files' crons from an Agent Server (deletionPolicy: Orphan keeps them)"),
    ):
        sub = commands.add_parser(
            verb,
            help=summary,
            description=(
                f"{summary[0].upper()}{summary[1:]}. Uses the operator's own reconcile logic; crons are tagged "
                "lgcron.io/namespace and lgcron.io/name, so applying the same files again updates the same crons. "
                "The API key comes from LGCRON_API_KEY. Exit code 1 if any resource failed."
            ),
            epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, 5, notes={
                EXIT_RUN_FAILED: ("a resource is not Ready (its reason, e.g. AssistantNotFound, Unauthorized or "
                                  "ServerUnavailable, is printed)" if verb == "apply" else "a cron was not deleted"),
                EXIT_USAGE: "bad arguments, a file that cannot be read or is not YAML, an invalid LGCRON_* setting"}),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("-f", "--filename", nargs="+", required=True, metavar="PATH", help="files or directories")
        sub.add_argument("--server", metavar="URL", help="Agent Server URL (default: spec.server.url or LGCRON_SERVER_URL)")
        sub.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from langgraph_cron.clients.agent_server import make_http_client
    from langgraph_cron.core import files
    from langgraph_cron.engine import files as file_mode
    from langgraph_cron.engine.service import CronService

    documents = files.load_documents(args.filename)
    settings = settings_from_env()
    if args.server:
        settings = settings.model_copy(update={"server_url": args.server})

    async def reconcile() -> list:
        async with make_http_client(verify=settings.tls_verify, timeout=settings.request_timeout) as http:
            service = CronService(settings, http, kube=None)
            service.prunes_history = False  # no operator will prune kept threads: the server's default
            action = file_mode.apply if args.command == "apply" else file_mode.delete
            return await action(service, documents)

    results = asyncio.run(reconcile())
    for document, result in results:
        for event in result.events:
            print(f"{document.where}: {document.namespace}/{document.name}: {event.reason}: {event.message}")
    if args.command == "delete":
        return EXIT_OK if all(result.done for _, result in results) else EXIT_RUN_FAILED
    print(files.status_table(results))
    ready = [result.status.condition("Ready") for _, result in results]
    return EXIT_OK if all(c is not None and c.status == "True" for c in ready) else EXIT_RUN_FAILED
