"""The README documents every spec and status field the models define."""

import re
from pathlib import Path

import pytest
from langgraph_cron.core.models import (
    CronJobOptions,
    LangGraphCronSpec,
    LangGraphCronStatus,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def aliases(model) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


@pytest.mark.parametrize("field", aliases(LangGraphCronSpec) + aliases(LangGraphCronStatus) + aliases(CronJobOptions))
def test_field_is_documented(field):
    assert re.search(rf"`{re.escape(field)}`", README), f"README does not document `{field}`"


def test_every_condition_reason_has_a_troubleshooting_row():
    reasons = ["InvalidSpec", "ServerNotAllowed", "Rejected", "SecretNotFound", "Unauthorized", "AssistantNotFound", "ThreadNotFound",
               "ServerUnavailable", "CronJobConflict", "KubernetesRejected", "KubernetesError"]
    for reason in reasons:
        assert f"| `{reason}` |" in README, reason
