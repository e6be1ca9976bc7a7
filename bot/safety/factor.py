"""Faster rule patterns, without changing what they match.

``compile_rule`` reads a rule's pattern once, with Python's own regex parser, and does two
things with the parse tree: it rewrites the pattern so the regex engine drops most alternatives
after one character (factoring), and it finds words without which the rule cannot match (its
required words), so a screen skips the rule for messages with none of them (a message's words
are a set lookup; running a rule's patterns is a scan).

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
3.11 to 3.13); if it is missing or meets a construct it does not know, ``compile_rule`` compiles
the pattern as written and finds no required words, so the only cost of a surprise is speed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import Any

try:
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser
except ImportError:  # pragma: no cover - a Python without these modules
    _parser = None


class _Unknown(Exception):
    """A construct this module does not rewrite."""


def compile_rule(source: str) -> tuple[re.Pattern[str], frozenset[str] | None]:
    """A rule's combined pattern compiled factored, and the words of which every match contains
    at least one (None when some alternative needs none, or only everyday ones).

    For a pattern as the rules build it (" (?:...)(?= )": whole words of normalised text). The
    words come from the parse tree: a part of the pattern between two spaces (or after a run
    of optional whole words such as "{MAYBE}") that can only spell a few strings gives their
    words (one per string); an alternation gives the union of its alternatives'. Parses the
    source once for both (loading the rules is start-up time). Raises ``re.error`` for a bad
    source, like ``re.compile``.
    """
    if _parser is None:
        return re.compile(source), None
    tree = _parser.parse(source)
    return _factored_tree(tree) or re.compile(source), _required_in_tree(tree)


def _factored_tree(tree: Any) -> re.Pattern[str] | None:
    try:
        return re.compile(_seq(tree))
    except (_Unknown, re.error, RecursionError, KeyError):
        return None


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


# ---------------------------------------------------------------------------------------------
# The words a match cannot do without
# ---------------------------------------------------------------------------------------------

# Words in nearly every message: a rule that can match with only these is run on every message.
_EVERYDAY_WORDS = (
    "a an the and or but if of to in on at for with by from up out as is are was be been am im i "
    "me my you your he she it its we they them this that there here so not no do dont did have "
    "has had will would can cant could just all any some one get got go going being about after "
    "again over into like than then too very what when where who why how more most much off only "
    'own now back down even still way ill ive id . , "'
)
_EVERYDAY: frozenset[str] = frozenset(_EVERYDAY_WORDS.split())
_MAX_STRINGS = 400  # past this many spellings a part of a pattern is not worth listing


def _required_in_tree(tree: Any) -> frozenset[str] | None:
    items = list(tree)
    # The rules' shape: a space, the alternatives, and "(?= )" - so both ends are word ends.
    if not items or items[0] != (C.LITERAL, ord(" ")) or str(items[-1][0]) != "ASSERT":
        return None
    words = _required(items[1:-1])
    return None if words is None or not _EVERYDAY.isdisjoint(words) else words


def _required(items: Any) -> frozenset[str] | None:
    """For a sequence with a word end on each side: words one of which every match holds."""
    items = list(items)
    parts: list[list[Any]] = [[]]
    for i, (op, av) in enumerate(items):
        if _is_space(op, av):
            parts.append([])
        elif not parts[-1] and _repeats(op, av, _ends_with_space):
            # Whole words, each ending with its space ("{MAYBE}" = "(?:(?:just|so) )*+") at a
            # word start: what follows starts a word too, so it is a part of its own.
            continue
        elif _repeats(op, av, _starts_with_space) and (
            i + 1 == len(items) or _is_space(*items[i + 1])
        ):
            # Words, each with its space before it ("(?: [^ ]+){0,3}"), then a word end: what
            # came before ends a word, so it is a part of its own.
            parts.append([(op, av)])
        elif str(op) not in ("AT", "ASSERT", "ASSERT_NOT"):  # zero-width: no characters
            parts[-1].append((op, av))
    best: frozenset[str] | None = None
    for part in parts:
        words = _part_words(part)
        if words is not None and (
            best is None
            or (_EVERYDAY.isdisjoint(words), -len(words)) > (_EVERYDAY.isdisjoint(best), -len(best))
        ):
            best = words
    return best


def _is_space(op: Any, av: Any) -> bool:
    return str(op) == "LITERAL" and av == ord(" ")


def _repeats(op: Any, av: Any, each_round: Callable[[Any], bool]) -> bool:
    """A repeat whose every round passes ``each_round``."""
    return str(op) in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and each_round(av[2])


def _ends_with_space(items: Any) -> bool:
    return _space_at(items, -1)


def _starts_with_space(items: Any) -> bool:
    return _space_at(items, 0)


def _space_at(items: Any, end: int) -> bool:
    """Whether every match of ``items`` has a space at its first (0) or last (-1) character."""
    if not items:
        return False
    op, av = items[end]
    name = str(op)
    if name == "LITERAL":
        return bool(av == ord(" "))
    if name == "SUBPATTERN":
        return _space_at(av[-1], end)
    if name == "ATOMIC_GROUP":
        return _space_at(av, end)
    if name == "BRANCH":
        return all(_space_at(alternative, end) for alternative in av[1])
    return False


def _part_words(part: list[Any]) -> frozenset[str] | None:
    """Words one of which every match of ``part`` (between two word ends) holds, or None."""
    if not part:
        return None
    spellings = _spellings(part)
    if spellings is not None and "" not in spellings:
        words = set()
        for spelling in spellings:
            tokens = spelling.split()
            if not tokens:
                return None
            rare = [t for t in tokens if t not in _EVERYDAY] or tokens
            words.add(max(rare, key=len))
        return frozenset(words)
    if len(part) == 1 and str(part[0][0]) in ("SUBPATTERN", "ATOMIC_GROUP", "BRANCH"):
        op, av = part[0]
        name = str(op)
        if name == "SUBPATTERN":
            return _required(av[-1])
        if name == "ATOMIC_GROUP":
            return _required(av)
        union = _union(_required(alternative) for alternative in av[1])
        return None if union is None else frozenset(union)
    return None


def _union(sets: Iterable[AbstractSet[str] | None]) -> set[str] | None:
    """The union of ``sets``, or None as soon as one of them is None."""
    out: set[str] = set()
    for each in sets:
        if each is None:
            return None
        out |= each
    return out


def _spellings(items: Any) -> set[str] | None:
    """Every string a sequence can match, or None when there are too many or it is open."""
    out = {""}
    for op, av in items:
        options = _node_spellings(op, av)
        if options is None:
            return None
        out = {a + b for a in out for b in options}
        if len(out) > _MAX_STRINGS:
            return None
    return out


def _node_spellings(op: Any, av: Any) -> set[str] | None:
    name = str(op)
    if name == "LITERAL":
        return {chr(av)}
    if name == "IN":
        chars: set[str] = set()
        for kind, value in av:
            if str(kind) == "LITERAL":
                chars.add(chr(value))
            elif str(kind) == "RANGE" and value[1] - value[0] < 10:
                chars |= {chr(c) for c in range(value[0], value[1] + 1)}
            else:  # negated or wide classes: too many strings
                return None
        return chars
    if name == "SUBPATTERN":
        return _spellings(av[-1])
    if name == "ATOMIC_GROUP":
        return _spellings(av)
    if name == "BRANCH":
        out = _union(_spellings(alternative) for alternative in av[1])
        return out if out is not None and len(out) <= _MAX_STRINGS else None
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        lo, hi, sub = av
        once = _spellings(sub)
        if once is None or hi == C.MAXREPEAT or hi > 3:
            return None
        out, run = set(), {""}
        for times in range(hi + 1):
            if times >= lo:
                out |= run
            run = {a + b for a in run for b in once}
            if len(out) > _MAX_STRINGS:
                return None
        return out
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return {""}
    return None
