"""A small checker for Go templates (Helm charts) for machines without the helm binary.

It lexes actions the way text/template does (strings, raw strings, comments and trim markers
included), checks that if/range/with/define/block ... end are balanced, and replaces each action
with a placeholder so that the rest can be parsed as YAML. It does not evaluate anything: real
rendering (nindent, toYaml, quoting) is for Helm itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPENERS = {"if", "range", "with", "define", "block"}
# Actions that print nothing: control flow, comments, variable declarations and assignments.
_SILENT = OPENERS | {"else", "end", "break", "continue"}
_ASSIGNMENT = re.compile(r"^\$[A-Za-z0-9_]*\s*:?=")
PLACEHOLDER = "TEMPLATED"


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Action:
    body: str  # without delimiters and trim markers
    start: int
    end: int
    line: int

    @property
    def keyword(self) -> str:
        if self.body.startswith("/*"):
            return "comment"
        return self.body.split(None, 1)[0] if self.body else ""

    @property
    def silent(self) -> bool:
        return self.keyword in _SILENT or self.keyword == "comment" or bool(_ASSIGNMENT.match(self.body))


def _skip_quoted(source: str, i: int, line: int) -> int:
    """Index just past the string, raw string or char literal starting at source[i]."""
    quote = source[i]
    i += 1
    while i < len(source):
        char = source[i]
        if quote != "`" and char == "\\":
            i += 2
            continue
        if char == quote:
            return i + 1
        if char == "\n" and quote != "`":
            break
        i += 1
    raise TemplateError(f"line {line}: unterminated {quote} literal in an action")


def lex(source: str) -> list[Action]:
    actions = []
    i = 0
    while (start := source.find("{{", i)) != -1:
        line = source.count("\n", 0, start) + 1
        j = start + 2
        if source.startswith("-", j) and source[j + 1 : j + 2].isspace():
            j += 1
        body_start = j
        while True:
            if j >= len(source):
                raise TemplateError(f"line {line}: unclosed action")
            if source.startswith("/*", j):
                close = source.find("*/", j + 2)
                if close == -1:
                    raise TemplateError(f"line {line}: unclosed comment")
                j = close + 2
            elif source[j] in "\"`'":
                j = _skip_quoted(source, j, line)
            elif source.startswith("{{", j):
                raise TemplateError(f"line {line}: '{{{{' inside an action (a missing '}}}}'?)")
            elif source.startswith("}}", j):
                break
            else:
                j += 1
        body_end = j - 1 if source[j - 1] == "-" and source[j - 2 : j - 1].isspace() else j
        actions.append(Action(source[body_start:body_end].strip(), start, j + 2, line))
        i = j + 2
    return actions


def check_blocks(actions: list[Action]) -> None:
    """Raise unless every if/range/with/define/block has its end, and else sits inside one."""
    stack: list[Action] = []
    for action in actions:
        if action.keyword in OPENERS:
            stack.append(action)
        elif action.keyword == "else":
            if not stack or stack[-1].keyword not in {"if", "range", "with"}:
                raise TemplateError(f"line {action.line}: else outside if/range/with")
        elif action.keyword == "end":
            if not stack:
                raise TemplateError(f"line {action.line}: end without an open block")
            stack.pop()
    if stack:
        raise TemplateError(f"line {stack[-1].line}: {stack[-1].keyword} is never closed by end")


def check(source: str) -> list[Action]:
    actions = lex(source)
    check_blocks(actions)
    return actions


def strip(source: str) -> str:
    """The template with every action replaced: silent ones by nothing, output ones by PLACEHOLDER.

    A line holding only actions disappears (a block marker, or an `include ... | nindent N` whose
    output Helm puts on lines of its own). Both branches of an if/else stay, so duplicate keys may
    appear; YAML loaders used here keep the last one.
    """
    actions = check(source)
    out, previous = [], 0
    for action in actions:
        out.append(source[previous : action.start])
        out.append("\x00" if action.silent else "\x01")
        previous = action.end
    out.append(source[previous:])
    lines = []
    for line in "".join(out).split("\n"):
        if ("\x00" in line or "\x01" in line) and not line.replace("\x00", "").replace("\x01", "").strip():
            continue
        lines.append(line.replace("\x00", "").replace("\x01", PLACEHOLDER))
    return "\n".join(lines)
