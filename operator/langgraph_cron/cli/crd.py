"""`lgcron crd`: the three CRDs (LangGraphCron, LangGraphServer, ClusterLangGraphServer), generated
from the models, as one multi-document YAML stream (`lgcron crd | kubectl apply -f -`)."""

from __future__ import annotations

import argparse
import sys

from langgraph_cron.cli.errors import EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    crd = commands.add_parser(
        "crd", help="print the three CRDs (YAML)",
        description="Print the CRDs of LangGraphCron, LangGraphServer and ClusterLangGraphServer, generated from "
                    "the models, as one multi-document YAML stream: lgcron crd | kubectl apply -f -")
    crd.set_defaults(func=command)
    return crd


def render_all() -> str:
    from langgraph_cron.core.crd import all_crds, render_crd_yaml

    first, *others = (render_crd_yaml(crd) for crd in all_crds().values())
    # One header comment, then each further CRD without it: the stream starts as `crds/langgraphcron.yaml` does.
    return first + "".join("---\n" + text.split("\n", 1)[1] for text in others)


def command(_: argparse.Namespace) -> int:
    sys.stdout.write(render_all())
    return EXIT_OK
