"""What kubelet does to a container's env that the packaging tests need: `$(VAR)` references.

A value may name an earlier variable of the same container as `$(VAR)` (the manifests' webhook names use
`$(POD_NAMESPACE)`); kubelet replaces it with that variable's value, leaves a reference to an unknown
variable as it is, and turns `$$` into `$` (so `$$(VAR)` stays literal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, defined: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return defined.get(match[1], match[0])

    return _REFERENCE.sub(replace, value)


def container_env(container: dict, field_refs: Mapping[str, str]) -> dict[str, str]:
    """The container's env as its process sees it: plain values (expanded) and fieldRef values from
    `field_refs` (fieldPath -> value); entries from Secrets or ConfigMaps are left out."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = expand(str(item.get("value", "")), env)
        elif "fieldRef" in source:
            env[item["name"]] = field_refs[source["fieldRef"]["fieldPath"]]
    return env
