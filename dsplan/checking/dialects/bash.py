"""A static reading of a bash launch script: its words, with variables resolved where the text says.

Only what a launch script of a trainer writes is understood: simple assignments (``VAR=8``, ``export
VAR=8``), arrays (``ARGS=( ... )``, ``ARGS+=( ... )``), line continuations, comments, single and
double quotes, ``$VAR``, ``${VAR}``, ``${ARR[@]}`` and integer arithmetic ``$((A*B))``. Everything
else that would need the script to run (positional parameters ``$1``, command substitutions
``$(...)`` and backticks, a variable the script never sets, ``${VAR:-default}`` of one it does not)
is an :class:`Unknown` value with the reason, never a guess. A plain argument file (one ``--flag
value`` per line) reads the same way.
"""

from __future__ import annotations

import ast
import re

from dsplan.records import record

# Bounds on what one script may ask of the reader (hostile input stays cheap).
MAX_WORDS = 200_000
MAX_ARITHMETIC_CHARS = 256
MAX_INT = 2**63 - 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Runs of characters with no meaning to the shell, taken at once (outside and inside double quotes).
_PLAIN = re.compile(r"[^\s;&|()'\"`$\\]+")
_QUOTED_PLAIN = re.compile(r"[^\"`$\\]+")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\+?)=")


@record
class Unknown:
    """A value the script sets only when it runs."""

    reason: str


@record
class Word:
    """One word of a command after expansion: its text (or why it is unknown) and its line."""

    text: str | Unknown
    line: int


Value = str | Unknown


class ScriptError(ValueError):
    """A script the reader cannot take apart (an unterminated quote), with its line."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


class _Var:
    def __init__(self, words: list[Word], line: int, array: bool) -> None:
        self.words, self.line, self.array = words, line, array

    def scalar(self) -> Value:
        if not self.words:
            return ""
        return self.words[0].text


def _arith(expr: str, env: dict[str, _Var]) -> Value:
    """``$(( expr ))`` with integers, + - * / % and parentheses; variables by name or ``$NAME``."""
    if len(expr) > MAX_ARITHMETIC_CHARS:
        return Unknown(f"an arithmetic expression longer than {MAX_ARITHMETIC_CHARS} characters")
    unknown: list[str] = []

    def sub(m: re.Match[str]) -> str:
        var = env.get(m.group(1))
        value = var.scalar() if var is not None else Unknown(f"${m.group(1)} is not set")
        if isinstance(value, Unknown) or not re.fullmatch(r"\s*-?\d+\s*", value):
            unknown.append(m.group(1))
            return "0"
        return f"({value.strip()})"

    text = re.sub(r"\$?\{?([A-Za-z_][A-Za-z0-9_]*)\}?", sub, expr)
    if unknown:
        return Unknown(
            f"$(({expr.strip()})) uses {', '.join(unknown)}, which the script does not set"
        )
    try:
        tree = ast.parse(text.replace("/", "//").replace("////", "//"), mode="eval")
        value = _eval(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, MemoryError):
        return Unknown(f"$(({expr.strip()})) is not integer arithmetic dsplan reads")
    return str(value)


def _eval(node: ast.expr) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Add):
            r = a + b
        elif isinstance(node.op, ast.Sub):
            r = a - b
        elif isinstance(node.op, ast.Mult):
            r = a * b
        elif isinstance(node.op, ast.FloorDiv):
            r = int(a / b) if b else a // b  # bash truncates towards zero
        elif isinstance(node.op, ast.Mod):
            r = a % b
        else:
            raise ValueError("operator")
        if abs(r) > MAX_INT:
            raise ValueError("overflow")
        return r
    raise ValueError("expression")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.env: dict[str, _Var] = {}
        self.words = 0

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def advance(self, n: int = 1) -> str:
        out = self.s[self.i : self.i + n]
        self.line += out.count("\n")
        self.i += n
        return out

    def skip_blanks(self) -> None:
        while True:
            ch = self.peek()
            if ch in (" ", "\t", "\r"):
                self.advance()
            elif ch == "\\" and self.peek(1) == "\n":
                self.advance(2)
            elif ch == "#":
                while self.peek() not in ("", "\n"):
                    self.advance()
            else:
                return

    def balanced(self, open_: str, close: str) -> str:
        """Consume up to the ``close`` matching an ``open_`` already consumed; return the inside."""
        depth, start = 1, self.i
        while self.peek():
            ch = self.advance()
            if ch == open_:
                depth += 1
            elif ch == close:
                depth -= 1
                if depth == 0:
                    return self.s[start : self.i - 1]
        raise ScriptError(self.line, f"an unterminated {open_!r}")

    def expansion(self) -> tuple[list[Word] | None, Value]:
        """After a ``$``: an array splice (words) or a value."""
        ch = self.peek()
        line = self.line
        if self.s.startswith("((", self.i):
            self.advance(2)
            inner = self.balanced("(", ")")
            if self.peek() != ")":
                raise ScriptError(line, "an unterminated $((")
            self.advance()
            return None, _arith(inner, self.env)
        if ch == "(":
            self.advance()
            inner = self.balanced("(", ")")
            return None, Unknown(f"$({inner.strip()[:40]}) runs a command")
        if ch == "{":
            self.advance()
            inner = self.balanced("{", "}")
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(\[[@*]\])?", inner)
            if m is None:
                name = _NAME.match(inner)
                shown = "${" + inner[:40] + "}"
                if name and name.group(0) not in self.env:
                    return None, Unknown(f"{shown}: {name.group(0)} comes from the environment")
                if name and inner[len(name.group(0)) :].startswith((":-", "-")):
                    return None, self.env[name.group(0)].scalar()
                return None, Unknown(f"{shown} is not a plain variable")
            braced = self.env.get(m.group(1))
            if braced is None:
                return None, Unknown(f"${m.group(1)} is not set in the script")
            if m.group(2):
                return list(braced.words), ""
            return None, braced.scalar()
        m = _NAME.match(self.s, self.i)
        if m:
            self.advance(len(m.group(0)))
            plain = self.env.get(m.group(0))
            if plain is None:
                return None, Unknown(f"${m.group(0)} is not set in the script")
            return None, plain.scalar()
        if ch and (ch.isdigit() or ch in "@*#?!$-"):
            self.advance()
            return None, Unknown(f"${ch} is set only when the script runs")
        return None, "$"

    def word(self) -> tuple[list[Word], bool]:
        """One shell word from here: its expansions (one word, or several after splitting)."""
        line, start = self.line, self.i
        parts: list[Value] = []
        splices: list[Word] = []
        unquoted_expansion = False
        while True:
            ch = self.peek()
            if ch == "" or ch in " \t\r\n;&|)":
                break
            if ch == "\\":
                if self.peek(1) == "\n":
                    self.advance(2)
                    break
                self.advance()
                parts.append(self.advance())
            elif ch == "'":
                self.advance()
                end = self.s.find("'", self.i)
                if end < 0:
                    raise ScriptError(line, "an unterminated single quote")
                parts.append(self.advance(end - self.i))
                self.advance()
            elif ch == '"':
                self.advance()
                parts.extend(self.double_quoted(line, splices))
            elif ch == "`":
                self.advance()
                end = self.s.find("`", self.i)
                if end < 0:
                    raise ScriptError(line, "an unterminated backtick")
                parts.append(Unknown(f"`{self.s[self.i : end][:40]}` runs a command"))
                self.advance(end - self.i + 1)
            elif ch == "$":
                self.advance()
                spliced, value = self.expansion()
                if spliced is not None:
                    splices.extend(spliced)
                else:
                    parts.append(value)
                    unquoted_expansion = True
            elif ch == "(" and parts:
                break
            else:
                run = _PLAIN.match(self.s, self.i)
                parts.append(self.advance(run.end() - self.i if run else 1))
        if self.i == start:
            return [], False
        if splices:
            return splices, False
        unknown = next((p for p in parts if isinstance(p, Unknown)), None)
        if unknown is not None:
            return [Word(unknown, line)], bool(parts)
        text = "".join(p for p in parts if isinstance(p, str))
        if unquoted_expansion:
            return [Word(t, line) for t in text.split()], True
        return [Word(text, line)], bool(parts)

    def double_quoted(self, line: int, splices: list[Word]) -> list[Value]:
        parts: list[Value] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise ScriptError(line, "an unterminated double quote")
            if ch == '"':
                self.advance()
                return parts
            if ch == "\\" and self.peek(1) == "\n":
                self.advance(2)
            elif ch == "\\" and self.peek(1) in '"\\$`':
                self.advance()
                parts.append(self.advance())
            elif ch == "$":
                self.advance()
                spliced, value = self.expansion()
                if spliced is not None:
                    splices.extend(spliced)
                else:
                    parts.append(value)
            elif ch == "`":
                self.advance()
                end = self.s.find("`", self.i)
                if end < 0:
                    raise ScriptError(line, "an unterminated backtick")
                parts.append(Unknown("a backtick command"))
                self.advance(end - self.i + 1)
            else:
                run = _QUOTED_PLAIN.match(self.s, self.i)
                parts.append(self.advance(run.end() - self.i if run else 1))

    def array(self, line: int) -> list[Word]:
        """The elements of ``( ... )`` after an array assignment's ``=``."""
        words: list[Word] = []
        while True:
            self.skip_blanks()
            ch = self.peek()
            if ch == "":
                raise ScriptError(line, "an unterminated array (")
            if ch == "\n":
                self.advance()
                continue
            if ch == ")":
                self.advance()
                return words
            start = self.i
            got, _ = self.word()
            if self.i == start:
                self.advance()  # a character no word takes (;, &, |): skip it
            words.extend(got)
            self.count(len(got))

    def count(self, n: int) -> None:
        self.words += n
        if self.words > MAX_WORDS:
            raise ScriptError(self.line, f"more than {MAX_WORDS} words")


def commands(text: str) -> list[list[Word]]:
    """The script's commands, each a list of expanded words; assignments are applied, not listed.

    Raises:
        ScriptError: an unterminated quote, array or substitution; too many words.
    """
    lx = _Lexer(text)
    out: list[list[Word]] = []
    current: list[Word] = []
    at_start = True
    while lx.i < len(lx.s):
        lx.skip_blanks()
        ch = lx.peek()
        if ch == "":
            break
        if ch in "\n;&|()":
            lx.advance()
            if current:
                out.append(current)
            current, at_start = [], True
            continue
        line = lx.line
        m = _ASSIGN.match(lx.s, lx.i) if at_start else None
        if m:
            name, append = m.group(1), bool(m.group(2))
            lx.advance(len(m.group(0)))
            old = lx.env.get(name)
            if lx.peek() == "(":
                lx.advance()
                words = lx.array(line)
                if append and old is not None:
                    words = [*old.words, *words]
                lx.env[name] = _Var(words, line, True)
            else:
                got, _ = lx.word()
                value: Value = "" if not got else got[0].text
                if len(got) > 1:
                    value = " ".join(w.text for w in got if isinstance(w.text, str))
                if append and old is not None:
                    prev = old.scalar()
                    if isinstance(prev, Unknown) or isinstance(value, Unknown):
                        value = prev if isinstance(prev, Unknown) else value
                    else:
                        value = prev + value
                lx.env[name] = _Var([Word(value, line)], line, False)
            continue
        start = lx.i
        got, _ = lx.word()
        if lx.i == start:  # pragma: no cover - every character here starts a word
            lx.advance()
            continue
        lx.count(len(got))
        if at_start and got and got[0].text in ("export", "local", "declare", "readonly"):
            continue  # the assignment that follows is read as one
        current.extend(got)
        at_start = False
    if current:
        out.append(current)
    return out
