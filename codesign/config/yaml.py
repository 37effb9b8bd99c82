"""Bounded YAML input (issue 14, item 5): every YAML file a user hands us (hardware specs, sweep
specs) is read here first, so a hostile or accidental file cannot hang or exhaust the process.

Limits, each exceeded with one :class:`~codesign.errors.SpecError` line naming the file:

* ``MAX_BYTES`` of text (hardware and sweep specs are a few kB);
* ``MAX_NODES`` YAML nodes *after expanding aliases* (an "alias bomb" of nine nested lists of
  nine aliases is 9**9 = 387 million nodes from 600 bytes: PyYAML builds it as shared objects,
  but every walk over it (validation, freezing, hashing, printing) is exponential);
* ``MAX_DEPTH`` levels of nesting.

The check composes the node graph (cheap: an alias is one shared node) and counts the expanded
size with memoization, in time linear in the text; only then does the caller construct Python
objects. Syntax errors are left to the caller's parser, which reports them with a line number.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import yaml

from codesign.errors import SpecError

MAX_BYTES = 8 * 2**20
MAX_NODES = 200_000
MAX_DEPTH = 64


def check_yaml_bounds(text: str, file: str, *, max_bytes: int = MAX_BYTES,
                      max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Raise SpecError when ``text`` exceeds the size, expanded-node or depth limits."""
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > max_bytes else len(text)
    if size > max_bytes:
        raise SpecError(file, "", f"{size:,} bytes of YAML; the limit is {max_bytes:,}")
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError:
            return                                    # the caller's parser reports it with a line
        except RecursionError:                        # PyYAML's composer recurses per level
            raise SpecError(file, "", f"YAML nested deeper than {max_depth} levels") from None
        if root is None:
            return
        sizes: dict[int, int] = {}
        # iterative post-order walk: (node, depth, children visited?)
        stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
        active: set[int] = set()
        while stack:
            node, depth, done = stack.pop()
            key = id(node)
            if done:
                active.discard(key)
                total = 1 + sum(sizes[id(c)] for c in _children(node))
                if total > max_nodes:
                    line = node.start_mark.line + 1
                    raise SpecError(file, "", f"the YAML expands to more than {max_nodes:,} "
                                              f"nodes (aliases at line {line} repeat a large "
                                              "block); write the values out instead")
                sizes[key] = total
                continue
            if key in sizes:
                continue
            if depth > max_depth:
                raise SpecError(file, "", f"YAML nested deeper than {max_depth} levels "
                                          f"(line {node.start_mark.line + 1})")
            if key in active:                         # a recursive alias: infinite expansion
                raise SpecError(file, "", f"recursive YAML alias at line {node.start_mark.line + 1}")
            active.add(key)
            stack.append((node, depth, True))
            for c in _children(node):
                if id(c) not in sizes:
                    stack.append((c, depth + 1, False))
    finally:
        loader.dispose()


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for kv in node.value for n in kv]
    return []


def read_yaml_text(path: Union[str, os.PathLike], file: str, *,
                   max_bytes: int = MAX_BYTES) -> str:
    """The text of a YAML file, refusing files over ``max_bytes`` before reading them and
    unreadable or non-UTF-8 files with one line."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise SpecError(file, "", f"cannot read: {e.strerror or e}") from None
    if size > max_bytes:
        raise SpecError(file, "", f"{size:,} bytes of YAML; the limit is {max_bytes:,}")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        raise SpecError(file, "", f"cannot read: {e.strerror or e}") from None
    if len(data) > max_bytes:                          # a pipe or a growing file
        raise SpecError(file, "", f"more than {max_bytes:,} bytes of YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(file, "", f"not UTF-8 text (byte {e.start})") from None


__all__ = ["check_yaml_bounds", "read_yaml_text", "MAX_BYTES", "MAX_NODES", "MAX_DEPTH"]
