"""The exit codes of every `lgcron` command, and the one-line error they end with.

One table for all commands (the README prints it too). A usage or configuration error is 2, never
1: exit 1 means the command did its work and its answer is a failure (above all: the run failed).
"""

from __future__ import annotations

import textwrap
from typing import Any

EXIT_OK = 0
# The command worked and its verdict is a failure: the run failed (invoke, trigger --wait: status
# error, timeout or interrupted, or it outlived --timeout); validate: a document is invalid; apply /
# delete: a resource is not Ready / not deleted; audit: orphaned crons remain.
EXIT_RUN_FAILED = 1
# Bad arguments; no or an invalid kubeconfig; an invalid LGCRON_* setting; an unknown resource; a
# spec or server object that cannot be used (argparse exits 2 too).
EXIT_USAGE = 2
# Refused: the Kubernetes API (401/403: RBAC) or the Agent Server (401/403/404, other 4xx), a Secret
# that cannot be read, a trigger the operator refused.
EXIT_REJECTED = 3
# Unreachable: the Kubernetes API or the Agent Server did not answer (connection errors, timeouts,
# 429, 5xx), or the run did not end within --timeout of trigger --wait.
EXIT_UNREACHABLE = 4
EXIT_INTERNAL = 5  # a bug in lgcron
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), as a shell reports it

MEANINGS = {
    EXIT_OK: "success",
    EXIT_RUN_FAILED: "the command's verdict is a failure: the run failed (invoke, trigger --wait); a document "
                     "is invalid (validate); a resource is not Ready or not deleted (apply, delete); orphans "
                     "remain (audit). Never a usage or configuration error",
    EXIT_USAGE: "usage or configuration error: bad arguments, no or an invalid kubeconfig, an invalid LGCRON_* "
                "setting, an unknown resource, a spec or server object that cannot be used",
    EXIT_REJECTED: "refused: the Kubernetes API (RBAC) or the Agent Server (401/403/404, other 4xx) refused, a "
                   "Secret cannot be read, or the operator refused the trigger",
    EXIT_UNREACHABLE: "unreachable: the Kubernetes API or the Agent Server did not answer (connection errors, "
                      "timeouts, 429, 5xx), or a run did not end in time",
    EXIT_INTERNAL: "internal error (a bug in lgcron)",
    EXIT_TERMINATED: "terminated (SIGTERM)",
}


def exit_codes_help(*codes: int, notes: dict[int, str] | None = None) -> str:
    """The epilog of a command's --help: the codes it can exit with (all by default)."""
    lines = ["exit codes (one table for every lgcron command; the README has it too):"]
    for code in codes or tuple(MEANINGS):
        lines += textwrap.wrap((notes or {}).get(code) or MEANINGS[code], 100, initial_indent=f"  {code:<3}  ",
                               subsequent_indent=" " * 7)
    return "\n".join(lines) + "\n"


class CliError(Exception):
    """Ends a command with one line on stderr (`lgcron COMMAND: error: MESSAGE`) and `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = " ".join(str(message).split())  # one line, whatever the cause says
        self.code = code

    def __str__(self) -> str:
        return self.message


def settings_from_env() -> Any:
    """Settings.from_env(), or a CliError (2) naming the LGCRON_* variable that is wrong; no value is
    ever echoed (LGCRON_API_KEY is one of them)."""
    from pydantic import ValidationError

    from langgraph_cron.core.settings import Settings
    from langgraph_cron.core.webhook import WebhookSettings

    try:
        WebhookSettings.from_env()
        return Settings.from_env()
    except ValidationError as exc:
        prefix = "LGCRON_WEBHOOK_" if exc.title == WebhookSettings.__name__ else "LGCRON_"
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            problems.append(f"{prefix}{field.upper()}: {error['msg'].removeprefix('Value error, ')}")
        raise CliError("invalid setting: " + "; ".join(problems), EXIT_USAGE) from None
    except ValueError as exc:  # from_env's own checks name their variable and quote no secret
        raise CliError(f"invalid setting: {exc}", EXIT_USAGE) from None
