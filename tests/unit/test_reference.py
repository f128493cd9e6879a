"""docs/reference.md is generated from the models, like the CRDs, and names every field."""

from pathlib import Path

from langgraph_cron.core import reference

from tests.bad_inputs import spec_fields

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_reference_is_what_the_models_generate():
    assert (ROOT / reference.REFERENCE_FILE).read_text() == reference.render(), \
        "run: python -m langgraph_cron.core.reference --write"


def test_every_spec_field_of_the_langgraphcron_crd_has_a_row():
    text = reference.render()
    missing = [name for name in spec_fields() if f"`spec.{name}`" not in text and f"`spec.{name.replace('.', '[].', 1)}`" not in text]
    assert not missing, missing
    for kind in ("## LangGraphCron", "## LangGraphServer", "## ClusterLangGraphServer"):
        assert kind in text
