"""`lgcron validate -f PATH...`: check lgcron.io YAML offline, as a cluster would answer `kubectl apply`."""

from __future__ import annotations

import argparse
import sys

from langgraph_cron.cli.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    exit_codes_help,
)

# Raw text (RawDescriptionHelpFormatter): the label format and the CI step keep their layout.
DESCRIPTION = """\
Check the lgcron.io objects of YAML files without a cluster or server: a pre-merge check for the
repositories Argo CD and Flux sync. Each LangGraphCron, LangGraphServer and ClusterLangGraphServer
gets the answer `kubectl apply` would get from a cluster running the operator:

  checked      apiVersion and kind (a version that is not served, a misspelt kind: what to write
               instead); the CRD schema (types, enums, ranges, unknown fields with a did-you-mean);
               the CRD's CEL rules and the operator's admission webhook (the cron expression, the
               IANA timezone, backend rules, H spreads, reserved metadata keys, sizes); metadata
  not checked  whether a server object a cron names exists or allows its namespace, and the
               operator's settings (LGCRON_ALLOWED_SERVER_URLS, a default server for a cron that
               names none): only the cluster knows

Other kinds (Deployment, Kustomization, ...) are skipped, so a whole GitOps directory can be checked.
A List (kubectl get -o yaml) is checked item by item.

Output: FILE#N is the Nth YAML document of FILE, (line L) the line it starts on; an item of a List
is FILE#N items[I] (line L). Valid objects go to stdout, errors to stderr:
  FILE#N (line L): LangGraphCron NAMESPACE/NAME: ok (BACKEND, TIMEZONE)[; effective schedule S]; next runs: T1, T2, T3
  FILE#N (line L): LangGraphServer NAMESPACE/NAME: ok (URL)
  FILE#N (line L): ClusterLangGraphServer NAME: ok (URL)
  error: FILE#N (line L): KIND NAMESPACE/NAME: FIELD: REASON[; FIELD: REASON ...]
  lgcron validate: error: FILE:LINE:COLUMN: cannot parse YAML: PROBLEM

In CI, e.g. a GitHub Actions step:
  - name: lgcron validate
    run: |
      pip install langgraph-cron-operator
      lgcron validate -f clusters/
"""


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    validate = commands.add_parser(
        "validate",
        help="check LangGraphCron, LangGraphServer and ClusterLangGraphServer YAML offline",
        description=DESCRIPTION,
        epilog=exit_codes_help(EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_INTERNAL, notes={
            EXIT_OK: "every lgcron.io object is valid",
            EXIT_RUN_FAILED: "an object is invalid (one error line each on stderr), or the paths hold no lgcron.io "
                             "object at all",
            EXIT_USAGE: "bad arguments, a path that does not exist, a file that cannot be read or is not YAML "
                        "(FILE:LINE:COLUMN)"}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("-f", "--filename", nargs="+", required=True, metavar="PATH",
                          help="files or directories (*.yaml and *.yml, recursively)")
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
