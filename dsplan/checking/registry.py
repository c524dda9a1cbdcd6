"""How a rule is declared: its id, severity, title and threshold beside the function that checks it.

A rule is a function from :class:`~dsplan.checking.facts.Facts` to the hits it finds; the
:func:`rule` decorator wraps it with its :class:`Rule` so that the table (``RULES``) is built from
the code and cannot drift from it. Nothing is registered as a side effect of importing: each family
module lists its rules in ``FAMILY`` and :mod:`dsplan.checking.rules` joins the families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.checking.facts import Facts


@record
class Rule:
    """A rule: its id, the severities it can report, what it checks and where its threshold is from."""

    id: str
    severity: str
    title: str
    threshold: str


@record
class Hit:
    """One thing a rule found: the key, the numbers it compared, and the value it suggests.

    ``severity`` is set only by a rule that reports either of two (``error/warning``); otherwise
    the rule's own severity applies.
    """

    key: str
    message: str
    hint: str
    severity: str | None = None


Check = Callable[["Facts"], Iterable[Hit]]


@record
class RuleCheck:
    """A rule and the function that checks it."""

    rule: Rule
    check: Check

    def __call__(self, facts: Facts) -> Iterable[Hit]:
        return self.check(facts)


def rule(id: str, severity: str, title: str, threshold: str) -> Callable[[Check], RuleCheck]:
    """Declare a rule on the function that checks it::

    @rule("DSP102", ERROR, "n_heads does not divide d_model", "heads split the width evenly")
    def heads_divide_width(f: Facts) -> Iterator[Hit]: ...
    """

    def attach(check: Check) -> RuleCheck:
        return RuleCheck(Rule(id, severity, title, threshold), check)

    return attach
