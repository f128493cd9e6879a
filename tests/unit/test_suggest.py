"""core/suggest.py: the field (or kind) a misspelt one most likely meant, from the models' aliases."""

from __future__ import annotations

import pytest
from langgraph_cron.core.models import ClusterLangGraphServerSpec, LangGraphCronSpec
from langgraph_cron.core.spec import InvalidSpec, parse_spec
from langgraph_cron.core.suggest import (
    explain_unknown_fields,
    suggest_field,
    unknown_field,
    unknown_field_message,
)


@pytest.mark.parametrize(("loc", "message"), [
    (("scheduel",), "unknown field; did you mean schedule?"),
    (("assistantID",), "unknown field; did you mean assistantId?"),
    (("end_time",), "unknown field; did you mean endTime?"),
    (("config", "tagz"), "unknown field; did you mean tags?"),
    (("server", "apiKeySecretRef", "nam"), "unknown field; did you mean name?"),
    (("runHistory", "succesfulRunsLimit"), "unknown field; did you mean successfulRunsLimit?"),
    (("frobnicate",), "unknown field"),
    # A misspelt parent is reported itself; nothing is guessed below it, nor inside free-form content.
    (("runhistory", "succesfulRunsLimit"), "unknown field"),
    (("input", "x"), "unknown field"),
])
def test_unknown_field_message_walks_the_model_by_alias(loc, message):
    assert unknown_field_message(LangGraphCronSpec, loc) == message


def test_list_indexes_step_into_the_items_model():
    assert unknown_field_message(ClusterLangGraphServerSpec, ("conditions", 0, "namespaceSelector", "matchLabel")) == (
        "unknown field; did you mean matchLabels?")
    assert suggest_field("spec.conditions[0].namespaceRegex", ClusterLangGraphServerSpec) == "namespaceRegexes"


def test_unknown_field_outside_a_model():
    assert unknown_field("sepc", ("apiVersion", "kind", "metadata", "spec")) == "unknown field; did you mean spec?"
    assert unknown_field("zzz", ("spec",)) == "unknown field"


def test_parse_spec_messages_are_rewritten_and_the_new_wording_is_left_alone():
    with pytest.raises(InvalidSpec) as caught:
        parse_spec({"scheduel": "@daily", "assistantId": "a", "config": {"tagz": []}})
    message = explain_unknown_fields(str(caught.value), LangGraphCronSpec)
    assert message == ("spec.schedule: Field required; spec.config.tagz: unknown field; did you mean tags?; "
                       "spec.scheduel: unknown field; did you mean schedule?")
    # Once spec.py says it itself, the post-processing changes nothing.
    assert explain_unknown_fields(message, LangGraphCronSpec) == message
