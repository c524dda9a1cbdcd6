"""The arguments of a Megatron-LM launch script or argument file: each ``--flag``'s value and line."""

from __future__ import annotations

import math

from dsplan.checking.dialects._common import Collector
from dsplan.checking.dialects.bash import ScriptError, Unknown, Word, commands
from dsplan.checking.schema import ConfigProblems, Problem
from dsplan.model.flops import MAX_DIMENSION


class Args:
    """The arguments of a script: the last value(s) of each ``--flag`` and its line."""

    def __init__(self, words: list[Word], c: Collector) -> None:
        self.values: dict[str, list[str | Unknown]] = {}
        self.lines: dict[str, int] = {}
        self.c = c
        i = 0
        while i < len(words):
            w = words[i]
            text = w.text
            i += 1
            if not isinstance(text, str) or not text.startswith("--") or len(text) < 3:
                continue
            name, eq, inline = text[2:].partition("=")
            values: list[str | Unknown] = []
            if eq:
                values.append(inline)
            else:
                while i < len(words):
                    nxt = words[i].text
                    if isinstance(nxt, str) and nxt.startswith("--"):
                        break
                    values.append(nxt)
                    i += 1
            self.values[name] = values
            self.lines[name] = w.line

    def has(self, name: str) -> bool:
        return name in self.values

    def line(self, name: str) -> int | None:
        return self.lines.get(name)

    def known(self, name: str) -> bool:
        """Whether the flag's first value (if any) is set by the text, not only at run time."""
        values = self.values.get(name)
        return not values or not isinstance(values[0], Unknown)

    def raw(self, name: str) -> str | None:
        """The flag's first value; a problem (and None) if the script sets it only at run time."""
        values = self.values.get(name)
        if not values:
            return None
        v = values[0]
        if isinstance(v, Unknown):
            self.c.problem(self.line(name), f"--{name}", f"unknown value: {v.reason}")
            return None
        return v

    def int(self, name: str, default: int | None = None, *, minimum: int = 1) -> int | None:
        if not self.has(name):
            return default
        v = self.raw(name)
        if v is None:
            if not self.values.get(name):
                self.c.problem(self.line(name), f"--{name}", "expected an integer value")
            return None
        try:
            n = int(v)
        except ValueError:
            self.c.problem(self.line(name), f"--{name}", f"expected an integer, got {v!r}")
            return None
        if n < minimum or n > MAX_DIMENSION * MAX_DIMENSION:
            self.c.problem(self.line(name), f"--{name}", f"must be at least {minimum}, got {n}")
            return None
        return n

    def float(self, name: str, default: float | None = None) -> float | None:
        if not self.has(name):
            return default
        v = self.raw(name)
        if v is None:
            if not self.values.get(name):
                self.c.problem(self.line(name), f"--{name}", "expected a number")
            return None
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or x < 0:
            self.c.problem(self.line(name), f"--{name}", f"expected a number >= 0, got {v!r}")
            return None
        return x

    def required(self, name: str, value: object, why: str = "") -> None:
        if value is None and not self.has(name):
            self.c.problem(None, f"--{name}", f"missing argument --{name}{why}")


def script_words(text: str, c: Collector) -> list[Word]:
    try:
        found = commands(text)
    except ScriptError as exc:
        problem = Problem(c.file, exc.line, "", f"cannot read the script: {exc}")
        raise ConfigProblems([problem]) from None
    return [w for command in found for w in command]
