"""Kubernetes YAML files read as `kubectl apply -f` reads them: every object, and where it is.

A document is labelled `FILE#N (line L)`: its 1-based position among the file's documents and the line
its content starts on (a `#` rather than `FILE:N`, which reads as a line number). An object inside a
List (what `kubectl get -o yaml` writes) is `FILE#N items[I] (line L)`. YAML errors are
`FILE:LINE:COLUMN: cannot parse YAML: ...`, as compilers print them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from langgraph_cron.core.models import CLUSTER_SERVER_KIND


class _KubectlYamlLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: an unquoted timestamp stays a string (the API gets the text)."""


_KubectlYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Document:
    """One object of a YAML file (a document, or an item of a List document)."""

    path: Path
    index: int  # 1-based position among the file's documents
    body: dict[str, Any]
    line: int | None = None  # 1-based line where the object's content starts
    item: int | None = None  # its position in a List document's items

    @property
    def where(self) -> str:
        item = f" items[{self.item}]" if self.item is not None else ""
        line = f" (line {self.line})" if self.line else ""
        return f"{self.path}#{self.index}{item}{line}"

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion") or "")

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self.body.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def object_name(self) -> str:
        """NAMESPACE/NAME, or NAME alone for a cluster-scoped object (kubectl ignores its namespace)."""
        name = self.name or "?"
        return name if self.kind == CLUSTER_SERVER_KIND else f"{self.namespace}/{name}"


class FileError(Exception):
    """A file that cannot be read or parsed; the message starts with its location."""


def yaml_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.exists():
            yield path
        else:
            raise FileError(f"{path}: no such file or directory")


def read_documents(paths: Iterable[str | Path]) -> list[Document]:
    """Every object of the given files (directories recursively) that has a kind, with a List's items
    in its place; empty documents, and documents that are not a mapping, are skipped."""
    documents = []
    for path in yaml_files(paths):
        for index, (body, node) in enumerate(_parse(path), start=1):
            documents += _objects(path, index, body, node)
    return documents


def _parse(path: Path) -> list[tuple[Any, yaml.Node]]:
    """Each document of the file with its node (whose marks say where it is)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise FileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: cannot read: not UTF-8 text (byte {exc.start})") from None
    try:
        return _load_all(text)
    except yaml.YAMLError as exc:
        raise FileError(_yaml_error(path, text, exc)) from None


def _load_all(text: str) -> list[tuple[Any, yaml.Node]]:
    loader = _KubectlYamlLoader(text)  # refuses a non-printable character here already (ReaderError)
    try:
        parsed = []
        while loader.check_node():  # yaml.load_all, keeping each document's node
            node = loader.get_node()
            parsed.append((loader.construct_document(node), node))
        return parsed
    finally:
        loader.dispose()


def _yaml_error(path: Path, text: str, exc: yaml.YAMLError) -> str:
    """FILE:LINE:COLUMN (1-based): cannot parse YAML: the problem, and where its construct began."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids, at a position in the text
        line, column = text.count("\n", 0, exc.position) + 1, exc.position - text.rfind("\n", 0, exc.position)
        return f"{path}:{line}:{column}: cannot parse YAML: {str(exc).splitlines()[0]}"
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"{path}: cannot parse YAML: {str(exc).splitlines()[0]}"
    mark, context = exc.problem_mark, exc.context_mark
    # "while scanning a quoted scalar" at the line the quote opens says where to look.
    began = f" ({exc.context} at line {context.line + 1}, column {context.column + 1})" if exc.context and context else ""
    return f"{path}:{mark.line + 1}:{mark.column + 1}: cannot parse YAML: {exc.problem}{began}"


def _objects(path: Path, index: int, body: Any, node: yaml.Node) -> list[Document]:
    if not isinstance(body, dict):
        return []
    items = body.get("items")
    if isinstance(items, list):  # kubectl applies any document with items as a List of them
        nodes = _items_nodes(node)
        return [
            Document(path, index, item, line=_line(nodes[position]) if position < len(nodes) else None, item=position)
            for position, item in enumerate(items)
            if isinstance(item, dict) and item.get("kind")
        ]
    return [Document(path, index, body, line=_line(node))] if body.get("kind") else []


def _items_nodes(node: yaml.Node) -> list[yaml.Node]:
    for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
        if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
