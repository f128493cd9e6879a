"""`python -m langgraph_cron.cli` is `lgcron`."""

import sys

from langgraph_cron.cli import main

sys.exit(main())
