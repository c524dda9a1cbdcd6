"""Where each key of a TOML file is written: a light line scanner, so findings can name a line.

``tomllib`` parses values but keeps no positions; this scan recovers the line of each ``[table]``
and ``key = value`` of the common layout, which is all a finding's ``file:line`` needs.
"""

from __future__ import annotations

import re


def line_of(lines: dict[str, int], key: str) -> int | None:
    if key in lines:
        return lines[key]
    return lines.get(key.split(".", 1)[0])


# A TOML key: bare, "quoted" or 'literal' parts joined by dots (``a."b".c``).
_KEY = r"""(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*"""
_HEADER = re.compile(rf"^\s*\[\s*({_KEY})\s*\]")
_ASSIGN = re.compile(rf"^\s*({_KEY})\s*=")
_KEY_PART = re.compile(r"""[A-Za-z0-9_\-]+|"([^"]*)"|'([^']*)'""")


def _key_parts(key: str) -> list[str]:
    return [m.group(1) or m.group(2) or m.group(0) for m in _KEY_PART.finditer(key)]


def key_lines(text: str) -> dict[str, int]:
    """Map ``table.key`` (and ``table``) to the 1-based line it is written on.

    A light scan of the common TOML layout (``[table]`` headers, ``key = value`` lines, with bare,
    quoted or dotted keys; a dotted key also places each of its prefixes). Keys it cannot place
    (inside inline tables) simply have no line, and their table's line is used.
    """
    lines: dict[str, int] = {}
    table = ""
    in_multiline = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count('"""') % 2 or raw.count("'''") % 2:
                in_multiline = False
            continue
        header = _HEADER.match(raw)
        if header:
            table = ".".join(_key_parts(header.group(1)))
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(raw)
        if assign:
            parts = [*([table] if table else []), *_key_parts(assign.group(1))]
            for end in range(1, len(parts) + 1):
                lines.setdefault(".".join(parts[:end]), number)
            if raw.count('"""') % 2 or raw.count("'''") % 2:
                in_multiline = True
    return lines
