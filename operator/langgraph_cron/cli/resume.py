"""`lgcron resume NAMESPACE/NAME`: resume a cron paused by failurePolicy (sets lgcron.io/resume)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from langgraph_cron.cli.cluster import Cluster, split_ref
from langgraph_cron.cli.errors import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_codes_help,
)
from langgraph_cron.core.runcontrol import RESUME_ANNOTATION


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    resume = commands.add_parser(
        "resume",
        help="resume a cron paused by failurePolicy",
        description=("Set the lgcron.io/resume annotation to the current time: a cron paused after failed runs "
                     "resumes, with its consecutive failures reset to 0. A cron that is not paused is left alone "
                     "(exit 0). Needs 'get' and 'patch' on langgraphcrons."),
        epilog=exit_codes_help(EXIT_OK, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, 5, notes={
            EXIT_OK: "resumed, or not paused (nothing written)"}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    resume.add_argument("ref", metavar="NAMESPACE/NAME", help="the LangGraphCron")
    resume.set_defaults(func=command)
    return resume


def command(args: argparse.Namespace) -> int:
    namespace, name = split_ref(args.ref)
    return asyncio.run(_resume(namespace, name))


async def _resume(namespace: str, name: str) -> int:
    async with Cluster.open() as cluster:
        body = await cluster.get_cron(namespace, name)
        if not (body.get("status") or {}).get("paused"):
            print(f"{namespace}/{name}: not paused; nothing to resume (nothing written)")
            return EXIT_OK
        value = datetime.now(UTC).isoformat()
        await cluster.annotate(namespace, name, RESUME_ANNOTATION, value)
    print(f"{namespace}/{name}: {RESUME_ANNOTATION}={value} set; the paused cron resumes (consecutive failures reset to 0)")
    return EXIT_OK
