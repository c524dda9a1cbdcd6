"""Which rules run: ``--select`` / ``--ignore`` rule codes and a file's ``[check] ignore``, as in ruff.

A code is a rule id (``DSP305``) or a prefix of one (``DSP3`` is the tokens family, ``DSP`` every
rule); codes are case-insensitive and a code that starts no rule id is an input error. A rule runs
when some selected code matches it (every rule when nothing is selected) and no ignore code matches
it more specifically: between a selected and an ignored code that both match, the longer one wins,
and on a tie the ignore wins (``--select DSP3 --ignore DSP305`` runs DSP301 to DSP304;
``--select DSP305 --ignore DSP3`` runs DSP305 alone). A file's ``[check] ignore`` always wins, like
ruff's per-file ignores.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from dsplan.errors import InputError
from dsplan.records import record


def split_codes(values: Iterable[str]) -> tuple[str, ...]:
    """Codes from repeated, comma-separated values (``["DSP3,DSP401", "DSP5"]``), upper-cased."""
    return tuple(
        code.strip().upper() for value in values for code in value.split(",") if code.strip()
    )


def unknown_code(code: str, rule_ids: Sequence[str]) -> str | None:
    """Why ``code`` selects no rule (with the closest id), or None if it starts some rule id."""
    if any(rule.startswith(code) for rule in rule_ids):
        return None
    close = difflib.get_close_matches(code, list(rule_ids), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown rule {code!r}{hint}"


def _longest(code_list: Sequence[str], rule: str) -> int:
    """The length of the longest code in ``code_list`` that ``rule`` starts with; -1 if none."""
    return max((len(code) for code in code_list if rule.startswith(code)), default=-1)


@record
class Selection:
    """The rule codes selected and ignored for a whole run (``--select``, ``--ignore``)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        select: Iterable[str] = (),
        ignore: Iterable[str] = (),
        *,
        rule_ids: Sequence[str],
        names: tuple[str, str] = ("select", "ignore"),
    ) -> Selection:
        """Codes from repeated, comma-separated values, each checked against ``rule_ids``.

        Raises:
            InputError: a code that starts no rule id, named with ``names`` (the CLI passes its
                flags).
        """
        chosen, dropped = split_codes(select), split_codes(ignore)
        for name, codes in zip(names, (chosen, dropped), strict=True):
            for code in codes:
                why = unknown_code(code, rule_ids)
                if why is not None:
                    raise InputError(
                        f"{name}: {why} (rule ids are DSP101 to DSP706; a prefix such as DSP3 "
                        "takes a whole family)"
                    )
        return cls(chosen, dropped)

    def enabled(self, rule: str) -> bool:
        """Whether ``rule`` runs under this selection (before a file's own ignores)."""
        selected = _longest(self.select, rule) if self.select else 0
        return selected >= 0 and selected > _longest(self.ignore, rule)


ALL = Selection()
