"""`lgcron`: the operator's command line.

    lgcron run [--namespace NS ... | --all-namespaces]   run the operator (kopf)
    lgcron crd                                           print the CRD generated from the models
    lgcron invoke [--request-file PATH] [--no-wait] ...  one run of a cron (the cronJob backend's Pods)
"""

from __future__ import annotations

import argparse
import sys


def _run(args: argparse.Namespace) -> int:
    import kopf

    import langgraph_cron  # noqa: F401  (registers the handlers)

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    # kopf resolves credentials itself: in-cluster service account, else KUBECONFIG / ~/.kube/config.
    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
        standalone=args.peering is None,
        peering_name=args.peering,
        liveness_endpoint=args.liveness,
    )
    return 0


def _crd(_: argparse.Namespace) -> int:
    from langgraph_cron.crd import render_crd_yaml

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
            "Settings come from the environment: LGCRON_SERVER_URL, LGCRON_API_KEY, LGCRON_RESYNC_INTERVAL, "
            "LGCRON_REQUEST_TIMEOUT, LGCRON_CA_BUNDLE, LGCRON_FORWARD_END_TIME."
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

    from langgraph_cron import invoke  # the cronJob backend's Pods run `lgcron invoke`

    invoke.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
