"""langgraph-cron-operator: LangGraphCron resources reconciled into LangGraph Agent Server crons.

Importing the package registers the kopf handlers, so `kopf run -m langgraph_cron` works.
"""

__version__ = "0.1.0"

from langgraph_cron import handlers  # noqa: E402, F401  (registers the handlers)
