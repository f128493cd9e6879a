"""Which namespaces a ClusterLangGraphServer serves: its spec.conditions (names, regexes, a label
selector) against a namespace and its labels. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from langgraph_cron.core.models import LabelSelector, NamespaceCondition


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels pair and every expression must hold."""
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions or []:
        values = requirement.values or []
        present = requirement.key in labels
        if requirement.operator == "In" and (not present or labels[requirement.key] not in values):
            return False
        if requirement.operator == "NotIn" and present and labels[requirement.key] in values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True


def namespace_allowed(
    conditions: list[NamespaceCondition] | None, namespace: str, labels: Mapping[str, str] | None
) -> bool:
    """Whether a ClusterLangGraphServer's conditions let `namespace` use it: any entry matching is enough.

    No conditions means no namespace: a cluster server holds an admin's key, so using it must be
    granted, never assumed (External Secrets defaults the other way; a forgotten list there exposes
    a key to every tenant).
    """
    for condition in conditions or []:
        if namespace in (condition.namespaces or []):
            return True
        if any(re.fullmatch(pattern, namespace) for pattern in condition.namespace_regexes or []):
            return True
        # An empty selector ({}) matches every namespace, as in Kubernetes.
        if condition.namespace_selector is not None and labels is not None and selector_matches(
            condition.namespace_selector, labels
        ):
            return True
    return False


def uses_namespace_labels(body: Mapping[str, Any]) -> bool:
    return any(c.get("namespaceSelector") is not None for c in (body.get("spec") or {}).get("conditions") or [])


# ---------------------------------------------------------------- server objects
