"""A bounded, position-keeping YAML reader for bridge mapping files.

PyYAML's composer gives every node a start mark (line, column); we build plain
Python values from the node tree ourselves so that every key path keeps its
position, and so that only the plain YAML a mapping needs is accepted:

- scalars are strings, integers (decimal or ``0x`` hex; a leading zero such as
  ``0000`` stays a string — vendor status codes look like that), floats,
  ``true``/``false`` and ``null``; YAML 1.1's ``yes``/``no``/``on``/``off`` and
  dates stay strings (the "Norway problem");
- anchors, aliases and merge keys are refused (no billion-laughs expansion);
- duplicate keys are an error at the second occurrence;
- size, node count and depth are bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

MAX_BYTES = 512 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 32

Path = tuple[str | int, ...]
_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)")
_HEX = re.compile(r"0x[0-9a-fA-F_]+")
_FLOAT = re.compile(r"[-+]?([0-9][0-9_]*)?\.[0-9_]+([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+")
_TRUE, _FALSE, _NULL = {"true", "True", "TRUE"}, {"false", "False", "FALSE"}, {"", "~", "null", "Null", "NULL"}


class YamlProblem(Exception):
    """A problem at a position (1-based line and column) of the document."""

    def __init__(self, problem: str, line: int, column: int, path: Path = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.column = column
        self.path = path


@dataclass
class Located:
    """A parsed document and where each key path starts (1-based line, column)."""

    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path) -> tuple[Path, tuple[int, int]]:
        """The longest prefix of *path* that has a position, and that position."""
        for n in range(len(path), -1, -1):
            got = self.marks.get(tuple(path[:n]))
            if got is not None:
                return tuple(path[:n]), got
        return (), (1, 1)


class _Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """SafeLoader's scanner and composer; scalars are resolved by :func:`_scalar`."""


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _scalar(node: yaml.ScalarNode) -> Any:
    text = node.value
    if node.style in ("'", '"', "|", ">"):
        return text
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _HEX.fullmatch(text):
        return int(text[2:].replace("_", ""), 16)
    if _FLOAT.fullmatch(text):
        return float(text.replace("_", ""))
    return text


class _Builder:
    def __init__(self) -> None:
        self.marks: dict[Path, tuple[int, int]] = {}
        self.seen: set[int] = set()
        self.count = 0

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        line, col = _mark(node)
        if id(node) in self.seen:
            raise YamlProblem("anchors and aliases are not supported in a mapping file", line, col, path)
        self.seen.add(id(node))
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlProblem(f"more than {MAX_NODES} values", line, col, path)
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", line, col, path)
        self.marks.setdefault(path, (line, col))
        if node.tag not in (None, "") and node.tag.startswith("!") and not node.tag.startswith("!!"):
            raise YamlProblem(f"YAML tags such as {node.tag} are not supported", line, col, path)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        # dict keys are kept as text in key paths (an int key of a code table is not a list index)
        if isinstance(node, yaml.MappingNode):
            out: dict[str | int, Any] = {}
            for knode, vnode in node.value:
                kline, kcol = _mark(knode)
                if not isinstance(knode, yaml.ScalarNode):
                    raise YamlProblem("a key must be a plain value", kline, kcol, path)
                if knode.value == "<<" and knode.style is None:
                    raise YamlProblem("merge keys (<<) are not supported in a mapping file", kline, kcol, path)
                key = _scalar(knode)
                if isinstance(key, bool) or key is None or isinstance(key, float):
                    key = knode.value
                at = (*path, str(key))
                if key in out:
                    raise YamlProblem(f"duplicate key {key!r}", kline, kcol, at)
                if id(vnode) in self.seen:
                    raise YamlProblem("anchors and aliases are not supported in a mapping file", kline, kcol, at)
                self.marks[at] = (kline, kcol)
                out[key] = self.build(vnode, at, depth + 1)
            return out
        raise YamlProblem("unsupported YAML node", line, col, path)  # pragma: no cover - no other node kinds


def parse(text: str) -> Located:
    """Parse *text*; :class:`YamlProblem` names the line and column of anything malformed."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlProblem(f"larger than {MAX_BYTES // 1024} KiB", 1, 1)
    if "\x00" in text:
        raise YamlProblem("contains a NUL character", 1, 1)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise YamlProblem(f"not valid YAML: {e.problem or e.context or 'syntax error'}", line, col) from None
    except yaml.YAMLError as e:
        raise YamlProblem(f"not valid YAML: {type(e).__name__}", 1, 1) from None
    except RecursionError:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", 1, 1) from None
    if node is None:
        return Located(None, {(): (1, 1)})
    b = _Builder()
    data = b.build(node, (), 0)
    return Located(data, b.marks)


def dotted(path: Path) -> str:
    """``operations.read.steps[1].call`` for ``("operations", "read", "steps", 1, "call")``."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(document)"
