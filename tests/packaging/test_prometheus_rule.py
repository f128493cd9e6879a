"""The PrometheusRule example (manifests/monitoring/) and the chart's copy: valid, equal, and about
metrics the operator really exports."""

from __future__ import annotations

import re
from pathlib import Path

import prometheus_client
import yaml
from langgraph_cron.clients import metrics  # noqa: F401  (registers the operator's metrics)

from tests.packaging.test_chart_render import render

ROOT = Path(__file__).resolve().parents[2]
RULE_FILE = ROOT / "manifests" / "monitoring" / "prometheusrule.yaml"


def _rules(doc: dict) -> dict[str, dict]:
    return {rule["alert"]: rule for group in doc["spec"]["groups"] for rule in group["rules"]}


def exported_names() -> set[str]:
    """Every series name the operator's registry can expose (counters as *_total, histograms' parts)."""
    names = set()
    for family in prometheus_client.REGISTRY.collect():
        names.add(family.name)
        names.update(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count", "_created"))
    return names


def test_the_rule_file_is_a_prometheus_rule_with_the_two_alerts():
    [doc] = [d for d in yaml.safe_load_all(RULE_FILE.read_text()) if d]
    assert (doc["apiVersion"], doc["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    rules = _rules(doc)
    assert set(rules) == {"LangGraphCronFailing", "LangGraphCronMissedRuns"}
    for rule in rules.values():
        assert rule["expr"].count("(") == rule["expr"].count(")") and rule["labels"]["severity"]
        assert "{{ $labels.namespace }}" in rule["annotations"]["summary"]


def test_every_metric_a_rule_names_is_exported_by_the_operator():
    [doc] = [d for d in yaml.safe_load_all(RULE_FILE.read_text()) if d]
    exported = exported_names()
    for name, rule in _rules(doc).items():
        used = set(re.findall(r"\blgcron_[a-z_]+\b", rule["expr"]))
        assert used and used <= exported, f"{name} names {used - exported}, which the operator does not export"
    for metric in ("lgcron_runs_total", "lgcron_last_run_timestamp_seconds", "lgcron_consecutive_failures",
                   "lgcron_missed_runs_total"):
        assert metric in exported


def test_the_chart_renders_the_same_rules_only_when_asked():
    docs, _ = render()
    assert not [d for d in docs if d["kind"] == "PrometheusRule"]
    docs, _ = render({"metrics": {"enabled": True, "port": 9090, "prometheusRule": {
        "enabled": True, "failingAfter": 5, "labels": {"release": "kube-prometheus-stack"}}}})
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [example] = [d for d in yaml.safe_load_all(RULE_FILE.read_text()) if d]
    expected = _rules(example)
    expected["LangGraphCronFailing"]["expr"] = "lgcron_consecutive_failures >= 5"
    assert _rules(rule) == expected  # Prometheus' own {{ $labels }} templates survive Helm verbatim
