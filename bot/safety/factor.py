"""Faster rule patterns: the same regular expression with its alternations factored.

The rules' patterns are long alternations of phrases ("want to|wanted to|wanna|..."). Python's
regex engine tries every alternative at every word of a message, so a pattern with hundreds of
alternatives costs hundreds of steps per word. Factoring the alternatives that start with the
same character into a tree ("want to|wanted to" -> "w(?:ant(?: to|ed to))") lets it drop a whole
subtree after one character comparison.

The factored pattern matches exactly what the original matches, at the same places: within a
run of alternatives that each begin with a literal character, those sharing that character are
grouped in their original order (an alternative that begins otherwise ends the run), so the
engine still prefers the same alternative wherever several could match.
tests/safety/test_factor.py checks that on every message the project has.

Reads the parse tree of Python's own regex parser (``re._parser``, unchanged in substance from
3.11 to 3.13); if it is missing or meets a construct it does not know, ``factored`` returns the
original pattern, so the only cost of a surprise is speed.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser
except ImportError:  # pragma: no cover - a Python without these modules
    _parser = None


class _Unknown(Exception):
    """A construct this module does not rewrite."""


def factored(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` with its alternations factored, or ``pattern`` itself when that fails."""
    if _parser is None or pattern.flags & ~re.UNICODE:
        return pattern
    try:
        source = _seq(_parser.parse(pattern.pattern, pattern.flags))
        return re.compile(source)
    except (_Unknown, re.error, RecursionError, KeyError):
        return pattern


def _seq(items: Any) -> str:
    return "".join(_node(op, av) for op, av in items)


def _char(code: int) -> str:
    return re.escape(chr(code))


def _repeat(lo: int, hi: int) -> str:
    if hi == C.MAXREPEAT:
        return "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
    if (lo, hi) == (0, 1):
        return "?"
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_AT = {
    "AT_BEGINNING": "^",
    "AT_END": "$",
    "AT_BOUNDARY": r"\b",
    "AT_NON_BOUNDARY": r"\B",
    "AT_BEGINNING_STRING": r"\A",
    "AT_END_STRING": r"\Z",
}


def _class(items: Any) -> str:
    out = []
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            out.append("^")
        elif name == "LITERAL":
            out.append("\\" + chr(av) if chr(av) in "-]^\\[" else re.escape(chr(av)))
        elif name == "RANGE":
            out.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif name == "CATEGORY":
            out.append(_CATEGORIES[str(av)])
        else:
            raise _Unknown(name)
    return "[" + "".join(out) + "]"


def _node(op: Any, av: Any) -> str:
    name = str(op)
    if name == "LITERAL":
        return _char(av)
    if name == "NOT_LITERAL":
        return "[^" + re.escape(chr(av)) + "]"
    if name == "IN":
        return _class(av)
    if name == "ANY":
        return "."
    if name == "SUBPATTERN":
        return "(?:" + _seq(av[-1]) + ")"
    if name == "ATOMIC_GROUP":
        return "(?>" + _seq(av) + ")"
    if name == "BRANCH":
        return "(?:" + _branch([list(alt) for alt in av[1]]) + ")"
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        lo, hi, sub = av
        tail = {"MAX_REPEAT": "", "MIN_REPEAT": "?", "POSSESSIVE_REPEAT": "+"}[name]
        return "(?:" + _seq(sub) + ")" + _repeat(lo, hi) + tail
    if name == "AT":
        return _AT[str(av)]
    if name in ("ASSERT", "ASSERT_NOT"):
        direction, sub = av
        head = {("ASSERT", 1): "(?=", ("ASSERT", -1): "(?<=", ("ASSERT_NOT", 1): "(?!"}.get(
            (name, direction), "(?<!"
        )
        return head + _seq(sub) + ")"
    raise _Unknown(name)  # group references, conditionals: not used by the rules


def _branch(alternatives: list[list[Any]]) -> str:
    """Alternatives joined with "|", each run of neighbours that start with a literal grouped
    by that first character (in order of first appearance, each group keeping its order)."""
    out: list[str] = []
    i = 0
    while i < len(alternatives):
        if not _starts_literal(alternatives[i]):
            out.append(_seq(alternatives[i]))
            i += 1
            continue
        groups: dict[int, list[list[Any]]] = {}
        while i < len(alternatives) and _starts_literal(alternatives[i]):
            groups.setdefault(alternatives[i][0][1], []).append(alternatives[i][1:])
            i += 1
        for first, rests in groups.items():
            if len(rests) == 1:
                out.append(_char(first) + _seq(rests[0]))
            else:
                out.append(_char(first) + "(?:" + _branch(rests) + ")")
    return "|".join(out)


def _starts_literal(items: list[Any]) -> bool:
    return bool(items) and str(items[0][0]) == "LITERAL"
