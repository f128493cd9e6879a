"""`lgcron`: the operator's command line, one module per command.

    lgcron run [--namespace NS ... | --all-namespaces]   run the operator (kopf)              run.py
    lgcron crd                                           print the three CRDs                 crd.py
    lgcron invoke [--request-file PATH] [--no-wait] ...  one run of a cron (cronJob Pods)     invoke.py
    lgcron validate -f PATH...                           lint LangGraphCron YAML offline      validate.py
    lgcron apply|delete -f PATH... [--server URL]        files into a server, no Kubernetes   apply.py
    lgcron demo                                          all of it on a local Agent Server    demo.py
    lgcron audit [--server URL | --server-ref REF]       crons whose LangGraphCron is gone    audit.py
    lgcron history NAMESPACE/NAME | -f FILE              the last runs of a cron              history.py
    lgcron trigger NAMESPACE/NAME [--wait]               start one run now                    trigger.py
    lgcron resume NAMESPACE/NAME                         resume a cron paused after failures  resume.py
    lgcron uninstall [-n NS ...] [--crds]                delete every LangGraphCron, safely   uninstall.py

Shared: errors.py (the one exit-code table, CliError) and cluster.py (kubeconfig, the Kubernetes
client, the connector to a cron's Agent Server). Every error ends a command with one line on stderr,
`lgcron COMMAND: error: ...`, and its exit code; never a traceback. Nothing here imports kopf:
`lgcron run` reaches it through langgraph_cron.controller.run, imported when it runs.
"""

from __future__ import annotations

import argparse
import sys

from langgraph_cron.cli.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    exit_codes_help,
)


def build_parser() -> argparse.ArgumentParser:
    from langgraph_cron.cli import (
        apply,
        audit,
        crd,
        demo,
        history,
        invoke,
        resume,
        run,
        trigger,
        uninstall,
        validate,
    )

    parser = argparse.ArgumentParser(
        prog="lgcron", description="Declare LangGraph cron jobs as Kubernetes resources (LangGraphCron).",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, crd, validate, apply, demo, audit, uninstall, history, trigger, resume, invoke):
        module.add_parser(commands)  # the cronJob backend's Pods run `lgcron invoke`
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here (argparse)
    try:
        return args.func(args)
    except CliError as exc:
        return _fail(args.command, exc.message, exc.code)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001  one line, never a traceback
        message, code = _classify(exc)
        return _fail(args.command, message, code)


def _classify(exc: Exception) -> tuple[str, int]:
    """The message and exit code of an error no command turned into a CliError."""
    from langgraph_cron.clients.agent_server import AgentServerError, ServerUnavailable
    from langgraph_cron.clients.kube import KubernetesApiError, SecretNotFound
    from langgraph_cron.core.files import FileError
    from langgraph_cron.core.spec import InvalidSpec

    if isinstance(exc, (FileError, InvalidSpec, OSError, ValueError)):
        return str(exc), EXIT_USAGE  # a file, a spec, a setting or an argument that cannot be used
    if isinstance(exc, AgentServerError):
        return str(exc), EXIT_UNREACHABLE if isinstance(exc, ServerUnavailable) else EXIT_REJECTED
    if isinstance(exc, SecretNotFound):
        return str(exc), EXIT_REJECTED
    if isinstance(exc, KubernetesApiError):
        unreachable = exc.status == 0 or exc.status >= 500
        return str(exc), EXIT_UNREACHABLE if unreachable else EXIT_REJECTED
    return f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL


def _fail(command: str, message: str, code: int) -> int:
    line = " ".join(str(message).split()) or "failed"
    print(f"lgcron {command}: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
