"""The operator's kopf side: the only package that imports kopf. Importing it registers every handler,
so `kopf run -m langgraph_cron.controller` and `lgcron run` both work."""

import sys

from langgraph_cron.clients.kube import uses_client_library

if "kopf" not in sys.modules and "kubernetes" not in sys.modules and not uses_client_library():
    # kopf imports the official client at start-up when it is installed, only to recognise its
    # model objects: ~13 MB of RSS the operator never uses (its own client is aiohttp, kube.py).
    # Hidden while kopf loads, and visible again after, for whoever really needs it.
    sys.modules["kubernetes"] = None  # type: ignore[assignment]
    try:
        import kopf

        kopf.get_default_registry()  # its first creation looks for the client library too
    finally:
        del sys.modules["kubernetes"]

# Importing these registers the handlers.
from langgraph_cron.controller import admission, crons, health, servers, startup  # noqa: E402, F401
