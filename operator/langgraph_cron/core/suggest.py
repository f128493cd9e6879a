"""Did-you-mean suggestions for misspelt field names and kinds.

kubectl's strict field validation refuses an unknown field by name only; a typo such as `scheduel` is
fixed fastest when the message names the field that was meant. Suggestions come from the models'
aliases (the camelCase names the CRD schema declares), so they are always a field that exists there.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

# pydantic's text for an undeclared key (error type "extra_forbidden").
PYDANTIC_EXTRA_FORBIDDEN = "Extra inputs are not permitted"
UNKNOWN_FIELD = "unknown field"
# How alike two names must be (difflib's ratio, case-insensitive) to be offered as what was meant.
CUTOFF = 0.75


def closest(word: str, choices: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The choice most like `word`, ignoring case (assistantID -> assistantId), or None."""
    by_lower = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[matches[0]] if matches else None


def unknown_field_message(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The reason for the unknown key at `loc` (a pydantic error location, by alias, relative to
    `model`): "unknown field; did you mean schedule?", or "unknown field" when nothing is close."""
    return _unknown(_suggestion(model, loc))


def unknown_field(key: Any, fields: Iterable[str]) -> str:
    """The same reason for a key outside a model (an object's top level, its metadata)."""
    return _unknown(closest(str(key), fields))


def _unknown(suggestion: str | None) -> str:
    return f"{UNKNOWN_FIELD}; did you mean {suggestion}?" if suggestion else UNKNOWN_FIELD


def suggest_field(path: str, model: type[BaseModel]) -> str | None:
    """The declared field most like the last part of `path` ("spec.config.tagz" -> "tags"), walking
    `model` (the spec's model) by alias; None when nothing is close or the path leaves the model."""
    return _suggestion(model, _loc(path))


def explain_unknown_fields(message: str, model: type[BaseModel]) -> str:
    """An InvalidSpec message with each "PATH: Extra inputs are not permitted" rewritten as
    "PATH: unknown field; did you mean X?". Text already in that form passes unchanged, so this stays
    correct once the spec parsers produce it themselves."""
    return _EXTRA_PROBLEM.sub(
        lambda match: f"{match['path']}: {unknown_field_message(model, _loc(match['path']))}", message
    )


# A problem starts the message or follows "; " (how parse_spec and parse_server_spec join them).
_EXTRA_PROBLEM = re.compile(r"(?:^|(?<=; ))(?P<path>spec(?:(?!; ).)*?): " + re.escape(PYDANTIC_EXTRA_FORBIDDEN))
_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _loc(path: str) -> tuple[str | int, ...]:
    """"spec.conditions[0].namespaceSelector" -> ("conditions", 0, "namespaceSelector")."""
    return tuple(int(index) if index else key for key, index in _PART.findall(path.removeprefix("spec")))


def _suggestion(model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    if not loc or not isinstance(loc[-1], str):
        return None
    models = _models_at(model, loc[:-1])
    return closest(loc[-1], [alias for found in models for alias in _aliases(found)]) if models else None


def _models_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The models whose fields may appear at `loc` (list indexes and pydantic's union tags step
    through); [] when `loc` names a field no model declares (free-form content has no suggestions)."""
    models = [model]
    for part in loc:
        if isinstance(part, int) or part in {found.__name__ for found in models}:
            continue
        fields = [field for found in models for alias, field in _fields(found) if alias == part]
        models = [found for field in fields for found in _models_in(field.annotation)]
        if not models:
            return []
    return models


def _fields(model: type[BaseModel]) -> Iterator[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        yield field.alias or name, field


def _aliases(model: type[BaseModel]) -> list[str]:
    return [alias for alias, _ in _fields(model)]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type holds: `X | None`, `list[X]`, `dict[str, X]` all give X."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [found for arg in typing.get_args(annotation) for found in _models_in(arg)]
