"""`lgcron run`: run the operator. The settings and the Kubernetes credentials are checked first, so
a wrong one ends it at once (exit 2, one line naming it) instead of kopf retrying its start-up
forever; kopf itself is reached through langgraph_cron.controller.run, imported only here."""

from __future__ import annotations

import argparse
import os

from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    exit_codes_help,
    settings_from_env,
)


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    run = commands.add_parser(
        "run",
        help="run the operator",
        description=(
            "Run the operator. Uses in-cluster credentials inside a pod, else KUBECONFIG. "
            "Settings come from LGCRON_* environment variables (LGCRON_SERVER_URL, LGCRON_API_KEY_SECRET, "
            "LGCRON_RESYNC_INTERVAL, ...): the table under 'Operator settings' in the README lists them all. "
            "An invalid setting or missing credentials end it at once with exit code 2."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, 5, notes={
            EXIT_OK: "stopped cleanly (SIGTERM or Ctrl-C)",
            EXIT_USAGE: "an invalid LGCRON_* setting (named), no usable Kubernetes credentials, or the CRDs "
                        "are not installed: at once, before the operator starts",
            EXIT_REJECTED: "at start: the Kubernetes API refuses the credentials (401/403)",
            EXIT_UNREACHABLE: "at start: the Kubernetes API does not answer"}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    run.set_defaults(func=command)
    return run


def command(args: argparse.Namespace) -> int:
    settings = settings_from_env()  # what the operator's start-up reads: wrong here, wrong there
    if settings.ca_bundle and not os.access(settings.ca_bundle, os.R_OK):
        raise CliError(f"invalid setting: LGCRON_CA_BUNDLE: cannot read {settings.ca_bundle}")
    if args.namespace and not args.all_namespaces:
        # The webhook reviews only what this operator watches (another may own the other namespaces).
        os.environ.setdefault("LGCRON_WEBHOOK_NAMESPACES", ",".join(args.namespace))
    from langgraph_cron.controller import run  # kopf, and every handler registered

    try:
        run.check_credentials(None if args.all_namespaces else args.namespace)
    except run.CannotStart as exc:
        raise CliError(str(exc), exc.code) from None
    return run.run(namespaces=args.namespace, clusterwide=args.all_namespaces, peering=args.peering,
                   liveness=args.liveness, verbose=args.verbose, log_format=args.log_format)
