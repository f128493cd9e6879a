"""langgraph-cron-operator: LangGraphCron resources reconciled into LangGraph Agent Server crons.

Importing the package registers the kopf handlers, so `kopf run -m langgraph_cron` works.
"""

from langgraph_cron import handlers  # noqa: F401  (registers the handlers)

__version__ = "0.1.0"
