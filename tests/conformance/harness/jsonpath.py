"""Dotted paths into a JSON answer: `data.batch_results[0].ciphertext`.

A path is a list of segments: object member names (strings) and array indices (ints).
Patterns use the same syntax plus `*` (any one member name), `[*]` (any index) and
`**` (any number of segments, including none).
"""

from __future__ import annotations

import re
from typing import Any

Segment = str | int

_TOKEN_RE = re.compile(r"\[(\d+|\*)\]|([^.\[\]]+)")


class PathError(ValueError):
    """A path string that is not well formed."""


def parse(text: str) -> list[Segment | None]:
    """Splits a path or pattern; `[*]` becomes None, `[3]` becomes 3."""
    segments: list[Segment | None] = []
    position = 0
    while position < len(text):
        if segments and text[position] == ".":
            position += 1
        match = _TOKEN_RE.match(text, position)
        if not match:
            raise PathError(f"bad path {text!r} at character {position}")
        index, name = match.groups()
        if index is None:
            segments.append(name)
        else:
            segments.append(None if index == "*" else int(index))
        position = match.end()
    if not segments:
        raise PathError("empty path")
    return segments


def render(segments: list[Segment]) -> str:
    """The path string of `segments`, as reports and the allowlist write it."""
    text = ""
    for segment in segments:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
    return text


def lookup(document: Any, path: str) -> Any:
    """The value at `path`; KeyError naming the first missing segment."""
    value = document
    for segment in parse(path):
        if isinstance(segment, int) and isinstance(value, list) and segment < len(value):
            value = value[segment]
        elif isinstance(segment, str) and isinstance(value, dict) and segment in value:
            value = value[segment]
        else:
            raise KeyError(segment)
    return value


def matches(pattern: list[Segment | None], path: list[Segment]) -> bool:
    """Whether the concrete `path` matches `pattern` exactly (not a prefix of it)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(matches(rest, path[skip:]) for skip in range(len(path) + 1))
    if not path:
        return False
    segment = path[0]
    if head is None:
        fits = isinstance(segment, int)
    elif head == "*":
        fits = isinstance(segment, str)
    else:
        fits = head == segment
    return fits and matches(rest, path[1:])
