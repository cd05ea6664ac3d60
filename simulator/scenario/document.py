"""The YAML document of a scenario, read with limits: a bad document is refused before it is built.

Owns: the loaders (YAML 1.2 booleans; libyaml when present), compose() with its guards (depth,
values with aliases expanded, recursive aliases, keys given twice) and line_index() (the line of
each field path, for error messages). Not here: validating what the document says (loader.py).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_YAML_NODES = 1_000_000  # values of the document, an alias counting as everything it stands for
MAX_YAML_DEPTH = 64  # nesting of the document (aliases expanded); a scenario needs about 7


class Refused(Exception):
    """The document is refused before it is built: a line, a field path and the reason."""

    def __init__(self, mark: yaml.Mark | None, path: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 1
        self.path = path
        self.message = message


def _bool_free(resolvers: dict[Any, list[tuple[str, Any]]]) -> dict[Any, list[tuple[str, Any]]]:
    return {first: [(tag, regexp) for tag, regexp in rs if tag != "tag:yaml.org,2002:bool"]
            for first, rs in resolvers.items()}


class _Construction:
    """Constructor behaviour shared by both loaders: a value that cannot be built (`!!int x`,
    a date like 2026-13-01) is a YAML error at its line, not a ValueError from deep inside."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, TypeError, OverflowError) as exc:
            what = node.tag.rpartition(":")[2] or "value"
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this {what}: {exc}",
                                                    node.start_mark) from None


class _PyLoader(_Construction, yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false; `off:`, `no:` and `yes:` stay strings (group names...).
    The pure-Python parser, whose composer recurses: it stops past MAX_YAML_DEPTH levels."""

    _path: list[Any] | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._path is None:
            self._path = []
        self._path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
        try:
            if len(self._path) > MAX_YAML_DEPTH and not self.check_event(yaml.AliasEvent):
                path = tuple(p for p in self._path if p is not None)
                raise Refused(self.peek_event().start_mark, path,
                               f"nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._path.pop()


_PyLoader.yaml_implicit_resolvers = _bool_free(yaml.SafeLoader.yaml_implicit_resolvers)
_PyLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader: type = _PyLoader
if getattr(yaml, "__with_libyaml__", False):  # libyaml parses ~4x faster and stops at 1,000 levels itself

    class _CLoader(_Construction, yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """_PyLoader's rules on libyaml's parser."""

    _CLoader.yaml_implicit_resolvers = _PyLoader.yaml_implicit_resolvers
    _Loader = _CLoader

NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def compose(text: str, loader_class: type | None = None) -> tuple[yaml.Node | None, Any]:
    """The node graph and the data of one YAML document, refused (Refused or a YAMLError) when it
    nests too deep, expands past MAX_YAML_NODES values, refers to itself or repeats a key."""
    loader = (loader_class or _Loader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_graph(node, loader)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node: yaml.Node, path: tuple[Any, ...]) -> list[tuple[yaml.Node, tuple[Any, ...]]]:
    if isinstance(node, yaml.MappingNode):
        out = []
        for key, value in node.value:
            part = path + (key.value if isinstance(key, yaml.ScalarNode) else "?",)
            out += [(key, part), (value, part)]
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(item, path + (i,)) for i, item in enumerate(node.value)]
    return []


def _check_graph(root: yaml.Node, loader: Any) -> None:
    """One visit per distinct node (so that a billion laughs costs what its text costs): the size
    and depth the document has with every alias expanded, cycles, and keys given twice."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) of its expansion
    on_path: set[int] = {id(root)}
    _check_keys(root, (), loader)
    # frames: [node, level, path, children, next child, values so far, depth so far]
    stack: list[list[Any]] = [[root, 1, (), _children(root, ()), 0, 1, 1]]

    def add(frame: list[Any], values: int, depth: int) -> None:
        frame[5] += values
        frame[6] = max(frame[6], depth + 1)
        if frame[5] > MAX_YAML_NODES:
            raise Refused(frame[0].start_mark, frame[2],
                           f"more than {MAX_YAML_NODES:,} values with its aliases expanded "
                           "(each use of an alias counts everything it stands for)")

    while stack:
        frame = stack[-1]
        node, level, _, children, i = frame[:5]
        if i == len(children):
            stack.pop()
            on_path.discard(id(node))
            done[id(node)] = (frame[5], frame[6])
            if stack:
                add(stack[-1], frame[5], frame[6])
            continue
        frame[4] += 1
        child, path = children[i]
        if id(child) in on_path:
            raise Refused(child.start_mark, path,
                           "an alias used inside the node it names (a recursive alias)")
        seen = done.get(id(child))
        if seen is not None:
            if level + seen[1] > MAX_YAML_DEPTH:
                raise Refused(child.start_mark, path, f"nested more than {MAX_YAML_DEPTH} levels deep "
                               "with its aliases expanded")
            add(frame, *seen)
            continue
        if level + 1 > MAX_YAML_DEPTH:
            raise Refused(child.start_mark, path, f"nested more than {MAX_YAML_DEPTH} levels deep")
        _check_keys(child, path, loader)
        on_path.add(id(child))
        stack.append([child, level + 1, path, _children(child, path), 0, 1, 1])


def _check_keys(node: yaml.Node, path: tuple[Any, ...], loader: Any) -> None:
    """A key given twice in one mapping is refused (YAML forbids it; PyYAML would keep the last)."""
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[Any, yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if key.tag == "tag:yaml.org,2002:merge":
            ident: Any = ("<<",)
        else:
            value = loader.construct_object(key)
            ident = (type(value).__name__, value)
        if ident in first:
            shown = key.value if key.tag != "tag:yaml.org,2002:merge" else "<<"
            raise Refused(key.start_mark, path + (shown,),
                           f"key given twice, first at line {first[ident].start_mark.line + 1} "
                           "(the second would silently replace the first)")
        first[ident] = key


def line_index(node: yaml.Node, path: tuple[Any, ...] = (), index: dict | None = None,
                seen: set[int] | None = None) -> dict[tuple[Any, ...], int]:
    """Map each field path (('faults', 2, 'probability')) to the 1-based line where it is written.

    A node that aliases repeat is indexed where it is first met: below a later use of the alias, a
    path falls back to the line of the key that holds the alias (so this is linear in the text)."""
    if index is None:
        index = {(): node.start_mark.line + 1}
    if seen is None:
        seen = set()
    if id(node) in seen:
        return index
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            index[path + (key,)] = key_node.start_mark.line + 1
            line_index(value_node, path + (key,), index, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index[path + (i,)] = item.start_mark.line + 1
            line_index(item, path + (i,), index, seen)
    return index
