"""`lgcron`: the operator's command line.

    lgcron run [--namespace NS ... | --all-namespaces]   run the operator (kopf)
    lgcron crd                                           print the CRD generated from the models
    lgcron invoke [--request-file PATH] [--no-wait] ...  one run of a cron (the cronJob backend's Pods)
    lgcron validate -f PATH...                           lint LangGraphCron YAML offline
    lgcron apply -f PATH... [--server URL]               reconcile files into a server, no Kubernetes
    lgcron delete -f PATH... [--server URL]              delete the crons of those files
    lgcron demo                                          all of it on a local in-memory Agent Server
    lgcron audit [--server URL | --server-ref REF] [--delete]  list (delete) crons whose LangGraphCron is gone
    lgcron history NAMESPACE/NAME | -f FILE              the last runs of a cron
    lgcron trigger NAMESPACE/NAME [--wait]               start one run now (lgcron.io/trigger)
    lgcron resume NAMESPACE/NAME                         resume a cron paused after failures
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys


def _run(args: argparse.Namespace) -> int:
    import kopf

    import langgraph_cron  # noqa: F401  (registers the handlers)

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    if not args.verbose:
        # One INFO line per Agent Server request drowns the operator's own lines at scale.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # kopf's "Handler ... succeeded" / "Creation is processed" lines: two per change of
        # every object. What the operator did is in each object's Events and status; -v shows them.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # uvloop, as `kopf run` uses when installed: the operator is CPU-bound on its event loop at
    # scale, and uvloop's sockets and scheduling cost a fraction of asyncio's.
    try:
        import uvloop
    except ImportError:  # optional (a platform without wheels): plain asyncio works the same
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        # kopf resolves credentials itself: in-cluster service account, else KUBECONFIG / ~/.kube/config.
        kopf.run(
            loop=runner.get_loop(),
            clusterwide=args.all_namespaces,
            namespaces=args.namespace or (),
            standalone=args.peering is None,
            peering_name=args.peering,
            # kopf pauses every replica whose priority ties with another's: give each a random one.
            priority=random.randint(0, 32767) if args.peering else None,
            liveness_endpoint=args.liveness,
        )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from langgraph_cron.core.files import validate

    report, errors = validate(args.filename)
    for line in report:
        print(line)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if errors else 0


def _reconcile_files(args: argparse.Namespace) -> int:
    import asyncio

    from langgraph_cron.clients.agent_server import make_http_client
    from langgraph_cron.core import files
    from langgraph_cron.core.settings import Settings
    from langgraph_cron.engine import files as file_mode
    from langgraph_cron.engine.service import CronService

    documents = files.load_documents(args.filename)
    settings = Settings.from_env()
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
        return 0 if all(result.done for _, result in results) else 1
    print(files.status_table(results))
    ready = [result.status.condition("Ready") for _, result in results]
    return 0 if all(c is not None and c.status == "True" for c in ready) else 1


def _demo(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from langgraph_cron.cli.demo import run_demo

    return asyncio.run(run_demo(Path(args.examples), wait_seconds=args.wait))


def _audit(args: argparse.Namespace) -> int:
    from langgraph_cron.cli.audit import command

    return command(server=args.server, cluster=args.cluster, namespaces=args.namespace, delete=args.delete,
                   server_ref=args.server_ref)


def _history(args: argparse.Namespace) -> int:
    from langgraph_cron.cli.history import command

    return command(ref=args.ref, filenames=args.filename, server=args.server, limit=args.limit)


def _trigger(args: argparse.Namespace) -> int:
    from langgraph_cron.cli.control import trigger_command

    return trigger_command(args.ref, wait=args.wait, timeout=args.timeout)


def _resume(args: argparse.Namespace) -> int:
    from langgraph_cron.cli.control import resume_command

    return resume_command(args.ref)


def _crd(_: argparse.Namespace) -> int:
    from langgraph_cron.core.crd import render_crd_yaml

    sys.stdout.write(render_crd_yaml())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lgcron", description="Declare LangGraph cron jobs as Kubernetes resources (LangGraphCron)."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the operator",
        description=(
            "Run the operator. Uses in-cluster credentials inside a pod, else KUBECONFIG. "
            "Settings come from LGCRON_* environment variables (LGCRON_SERVER_URL, LGCRON_API_KEY_SECRET, "
            "LGCRON_RESYNC_INTERVAL, ...): the table under 'Operator settings' in the README lists them all."
        ),
    )
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument("-n", "--namespace", action="append", metavar="NS", help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces")
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="kopf peering object for running several replicas with one active (default: standalone)",
    )
    run.add_argument("--liveness", metavar="URL", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--log-format", choices=["plain", "json"], default="plain", help="log line format")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.set_defaults(func=_run)

    crd = commands.add_parser("crd", help="print the LangGraphCron CRD (YAML)", description="Print the CRD YAML.")
    crd.set_defaults(func=_crd)

    validate = commands.add_parser(
        "validate",
        help="lint LangGraphCron YAML offline",
        description=(
            "Check LangGraphCron documents without a cluster or server: the schema, the cron expression, the "
            "timezone and backend rules (a cronJob schedule has minute granularity). Prints the next 3 runs of "
            "each valid resource; errors are FILE:DOCUMENT: NAMESPACE/NAME: FIELD: REASON. Other kinds of "
            "documents are skipped, so a whole GitOps directory can be checked. Exit code 1 on any error."
        ),
    )
    validate.add_argument("-f", "--filename", nargs="+", required=True, metavar="PATH", help="files or directories")
    validate.set_defaults(func=_validate)

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
        )
        sub.add_argument("-f", "--filename", nargs="+", required=True, metavar="PATH", help="files or directories")
        sub.add_argument("--server", metavar="URL", help="Agent Server URL (default: spec.server.url or LGCRON_SERVER_URL)")
        sub.set_defaults(func=_reconcile_files)

    demo = commands.add_parser(
        "demo",
        help="run the example crons on a local in-memory Agent Server",
        description=(
            "Start the real in-memory Agent Server (needs the `server` extra) with a bundled graph, apply the "
            "example LangGraphCron files, print their status, wait for the first scheduled run and show it, then "
            "delete everything. Ctrl-C stops it cleanly."
        ),
    )
    demo.add_argument("--examples", default="examples", metavar="DIR", help="directory of LangGraphCron files")
    demo.add_argument("--wait", type=float, default=90, metavar="SECONDS", help="how long to wait for a run (0: don't)")
    demo.set_defaults(func=_demo)

    audit = commands.add_parser(
        "audit",
        help="list (or delete) crons whose LangGraphCron no longer exists",
        description=(
            "Find orphaned crons on an Agent Server: crons the operator of this cluster made (tagged lgcron.io/uid "
            "and lgcron.io/cluster) whose LangGraphCron no longer exists, e.g. after its finalizer was removed by "
            "hand. Needs read access to LangGraphCrons (KUBECONFIG or in-cluster credentials). Crons of other "
            "clusters, of `lgcron apply` and crons tagged lgcron.io/released are never listed. The API key comes from "
            "LGCRON_API_KEY. Exit code 0 when no orphan is left, 1 when orphans were found (and not all deleted), "
            "2 on errors."
        ),
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
    audit.set_defaults(func=_audit)

    runs = commands.add_parser(
        "history",
        help="the last runs of a cron: result, duration, error line",
        description=(
            "List the runs a cron's backend keeps (spec.runHistory's limits, a thread cron's thread, a CronJob's "
            "Jobs), newest first. NAMESPACE/NAME reads the LangGraphCron with your kubeconfig and asks its server "
            "with the key bound to it (read with your own rights); -f FILE asks LGCRON_SERVER_URL (or --server) "
            "about a cron made by `lgcron apply`. Exit code 0, or 2 on errors."
        ),
    )
    runs.add_argument("ref", nargs="?", metavar="NAMESPACE/NAME", help="the LangGraphCron")
    runs.add_argument("-f", "--filename", action="append", metavar="PATH", help="the file of a cron made by `lgcron apply`")
    runs.add_argument("--server", metavar="URL", help="file mode: Agent Server URL (default: LGCRON_SERVER_URL)")
    runs.add_argument("--limit", type=int, default=20, help="runs to show (default 20)")
    runs.set_defaults(func=_history)

    trigger = commands.add_parser(
        "trigger",
        help="start one run of a cron now",
        description=(
            "Set the lgcron.io/trigger annotation to the current time: the operator starts one run now with the "
            "cron's payload, assistant and thread (cronJob backend: a Job from the CronJob), exactly once per value. "
            "A suspended, expired, invalid or stopped cron refuses it. With --wait, follow the run to its end: exit "
            "0 success, 1 failed, 3 refused, 4 unreachable or not finished within --timeout, 2 usage errors."
        ),
    )
    trigger.add_argument("ref", metavar="NAMESPACE/NAME", help="the LangGraphCron")
    trigger.add_argument("--wait", action="store_true", help="wait for the run to end; exit with its outcome")
    trigger.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits (600)")
    trigger.set_defaults(func=_trigger)

    resume = commands.add_parser(
        "resume",
        help="resume a cron paused by failurePolicy",
        description=("Set the lgcron.io/resume annotation to the current time: a cron paused after failed runs "
                     "resumes, with its consecutive failures reset to 0. Exit 0, 3 when the API refuses, 2 usage."),
    )
    resume.add_argument("ref", metavar="NAMESPACE/NAME", help="the LangGraphCron")
    resume.set_defaults(func=_resume)

    from langgraph_cron.cli import (
        invoke,  # the cronJob backend's Pods run `lgcron invoke`
    )

    invoke.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from langgraph_cron.core.files import FileError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except (FileError, OSError, ValueError) as exc:
        # One clear line, never a traceback.
        print(f"lgcron {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
