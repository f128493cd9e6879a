"""langgraph-cron-operator: LangGraphCron resources reconciled into LangGraph Agent Server crons.

Importing the package loads nothing: the operator's handlers are registered by importing
`langgraph_cron.controller` (`kopf run -m langgraph_cron.controller`, or `lgcron run`).
Layers, imported one way only: cli/controller -> engine -> clients -> core (see the README's code map).
"""

__version__ = "0.1.0"
