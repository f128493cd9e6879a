"""`lgcron validate -f PATH...`: lint LangGraphCron YAML offline."""

from __future__ import annotations

import argparse
import sys

from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    exit_codes_help,
)


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    validate = commands.add_parser(
        "validate",
        help="lint LangGraphCron YAML offline",
        description=(
            "Check LangGraphCron documents without a cluster or server: the schema, the cron expression, the "
            "timezone and backend rules (a cronJob schedule has minute granularity). Prints the next 3 runs of "
            "each valid resource; errors are FILE:DOCUMENT: NAMESPACE/NAME: FIELD: REASON. Other kinds of "
            "documents are skipped, so a whole GitOps directory can be checked. Exit code 1 on any error."
        ),
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, notes={
            EXIT_RUN_FAILED: "a document is invalid (one FILE:DOC: NS/NAME: FIELD: REASON line each on stderr)",
            EXIT_USAGE: "bad arguments, a file that cannot be read or is not YAML"}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("-f", "--filename", nargs="+", required=True, metavar="PATH", help="files or directories")
    validate.set_defaults(func=command)
    return validate


def command(args: argparse.Namespace) -> int:
    from langgraph_cron.core.files import validate

    report, errors = validate(args.filename)
    for line in report:
        print(line)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_RUN_FAILED if errors else EXIT_OK
