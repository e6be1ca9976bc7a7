"""Crisis-language screening: is this message a crisis, distress, or neither?

``screen(text)`` reads one message and returns a :class:`Screening`:

* ``Level.CRISIS``: suicide or self-harm intent, wanting to die, a plan to hurt someone.
* ``Level.DISTRESS``: hopelessness, worthlessness, not coping; also a crisis statement that the
  writer explicitly denies ("I'd never kill myself") or one about someone close to them
  ("my friend said she wants to die").
* ``Level.NONE``: everything else, including the idioms rejected people use all the time
  ("this job hunt is killing me", "my pitch died in the room", "I killed it").

``Screening.rule`` names what decided: a rule id from ``rules.yaml``, or ``model.crisis`` /
``model.distress`` when the learned second opinion raised the verdict.

The module is pure: no I/O at call time, no logging, nothing kept between calls, no platform
SDK and no database. The rules are data in ``rules.yaml``, read, validated and compiled once at
import, so a broken rules file fails at start-up with a ``ValueError`` that names the rule. The
model's weights are data in ``model.json``, read by :func:`model` on first use; start-up code
(``bot/app.py``, ``rebound check``) calls it before any message, so a broken model file also
stops start-up, never a conversation.

How a message is read
---------------------
1. **Normalise** (:func:`normalise`): strip invisible characters, NFKC, casefold, Unidecode
   (homoglyphs, accents, fancy quotes), drop in-word apostrophes ("I'm" -> "im"), undo leet
   inside words ("su1c1de" -> "suicide"), read masked words against a short list of
   sensitive words ("s**cide" -> "suicide", "k*ll" -> "kill"), join spaced-out letters
   ("k i l l" -> "kill"), collapse runs of 3+ repeated letters ("diiiie" -> "die"), turn
   sentence and clause punctuation into "." and "," tokens, rejoin a sensitive word split in
   two ("sui cide" -> "suicide"), and map chat spellings and common typos ("u" -> "you",
   "wnat" -> "want", "killin" -> "killing").
   The result is lower-case words separated by single spaces, padded with a space each end.
2. **Match**: every rule is one compiled regular expression over the normalised text. Crisis
   rules run first, in file order; the first match that survives the checks below decides.
   A rule may list ``needs``: words at least one of which every match contains; the rule is
   skipped, without running its expression, when the message has none of them (a speed-up
   for co-occurrence rules whose patterns open on common words).
3. **Check each match** against the words before it, in the same sentence or clause:

   * *reported speech*: inside quotes or right after "says/said/sings/..." with someone
     else as the speaker -> not the writer's own statement (someone close -> third party).
     A thought verb with its subject left out ("went to the bridge and just stood there
     thinking how easy it would be ...") is the writer's when nobody else is in the clause;
   * *second-hand*: a relative of a friend, colleague or neighbour ("my friend's cousin") is
     an acquaintance, not someone close;
   * *third-person subject*: "he wants to end it all", "people who commit suicide" -> not
     the writer (unless the match itself says "me/my/myself/I");
   * *negation*: a denial right before the match ("not", "never", "don't", "won't" with at
     most a few filler words between) -> the match is denied;
   * *strangers*: "a guy at the job fair told me he wanted to die" is about a stranger, and
     "a founder who went bankrupt and thought about ending it all" is a relative clause about
     someone else: neither is the writer, nor someone close;
   * *jokes and media*: some rules stay quiet when the message laughs ("lol") or is about a
     film, song or the news;
   * *quiet_near*: a rule may list context that silences it when found near the match
     ("goodbye forever, toxic team chat": a farewell to an app, not to life).

4. **Decide**: a surviving crisis match -> CRISIS. Otherwise distress rules run in file order;
   the two *derived* rules fire when a crisis match was denied (``negated_crisis``) or was
   about someone close (``third_party_crisis``). Otherwise NONE.
5. **Second opinion** (:mod:`bot.safety.model`): phrase rules only know the wordings someone
   wrote down, so a learned model over the message's words and word pairs scores the same
   normalised text. It can raise the verdict (to ``model.crisis`` or ``model.distress``), never
   lower it. It does not overrule a close reading: a crisis statement the writer denies, or one
   about someone close, anywhere in the message, settles it; a sentence whose crisis match was
   set aside (a stranger, a film, the news, a joke, a quiet context) is cut out before the model
   reads the rest (``RuleSet.judge``). ``rules_only`` gives the rules' verdict alone.
6. **Third reader** (:mod:`bot.safety.contextual`; the app asks it unless
   REBOUND_SAFETY_CONTEXTUAL=false, ``screen`` itself never does): a small transformer reads
   the messages the linear model is unsure about and says whether they are a crisis
   (``contextual.crisis``); it never overrules a rule. ``screen_with`` builds that screen
   (``first_look`` and ``Pending`` let ``bot/app.py`` run the reader off the event loop).

All regular expressions are written so that matching is linear in the length of the message
(bounded repetitions, possessive word lists); a 4,000-character message screens in well under
a millisecond.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import yaml
from unidecode import unidecode

from bot.safety.contextual import Band, ContextualModel, Reading
from bot.safety.factor import compile_rule
from bot.safety.model import TOO_SHORT, Model, Scores, Thresholds

__all__ = [
    "RULES_PATH",
    "Level",
    "Pending",
    "Rule",
    "RuleSet",
    "Screening",
    "decide",
    "first_look",
    "judge",
    "load_rules",
    "model",
    "normalise",
    "rules",
    "rules_only",
    "screen",
    "screen_with",
]

RULES_PATH: Final = Path(__file__).with_name("rules.yaml")


class Level(StrEnum):
    """How worried the product should be about a message."""

    NONE = "none"
    DISTRESS = "distress"
    CRISIS = "crisis"

    @property
    def severity(self) -> int:
        """0 for NONE, 1 for DISTRESS, 2 for CRISIS (string order is not severity order)."""
        return _SEVERITY[self]


_SEVERITY: Final = {Level.NONE: 0, Level.DISTRESS: 1, Level.CRISIS: 2}


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict on one message: its level and the id of the rule that fired (None for NONE)."""

    level: Level
    rule: str | None


_NO_CONCERN: Final = Screening(Level.NONE, None)


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule from ``rules.yaml``."""

    id: str
    level: Level
    description: str
    pattern: re.Pattern[str] | None
    derived: str | None = None
    negatable: bool = True
    speaker_check: bool = True
    report_denial: bool = True
    quiet_when_joking: bool = False
    quiet_in_media: bool = False
    quiet_near: re.Pattern[str] | None = None
    needs: frozenset[str] | None = None
    fires: tuple[str, ...] = ()
    quiet: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

# Invisible and formatting characters that split words without showing anything: soft hyphen,
# zero-width space/joiners, direction marks, word joiner, BOM, variation selectors, tag
# characters, Hangul and Braille blanks, combining grapheme joiner, Mongolian vowel separator.
_INVISIBLE: Final = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
_APOSTROPHE_IN_WORD: Final = re.compile(r"(?<=[a-z])['`](?=[a-z])")
# Leet characters touching a letter: "su1c1de", "k!ll", "$uicide", "ki||".
_LEET_RUN: Final = re.compile(r"(?<=[a-z])[0-9@$|]+|[0-9@$|]+(?=[a-z])|(?<=[a-z])!+(?=[a-z])")
# Three or more single characters separated by spaces, dots, dashes, underscores or stars.
_SPACED: Final = re.compile(r"(?<![a-z0-9@$])[a-z0-9@$](?:[ .\-_*]+[a-z0-9@$](?![a-z0-9@$])){2,}")
_SPACED_JUNK: Final = re.compile(r"[ .\-_*]+")
# Runs of single letters that are ordinary words when spaced ("i m a", "u r a"): left alone.
_SPACED_WORDS: Final = frozenset("iamur")
# Runs of 3+ letters collapse to one ("diiiie" -> "die"), except "hhh" -> "hh" so that
# "shhh" stays "shh" and never becomes the self-harm abbreviation "sh".
_REPEATS: Final = re.compile(r"([a-gi-z])\1{2,}")
_REPEATED_H: Final = re.compile(r"h{3,}")
# A word with symbols standing in for letters: "s**cide", "k#ll", "su*cidal". The lookbehind
# anchors each candidate at the start of a word, so the scan stays linear.
_MASKED_WORD: Final = re.compile(r"(?<![a-z0-9*#])[a-z*#]*[*#][a-z*#]*")
_MASK_PARTS: Final = re.compile(r"[a-z]+|[*#]+")
_MAX_MASKED: Final = 24  # longer tokens are not read as masked words
# What comes right before "who" when the relative clause is about the writer: "I'm someone
# who", "I'm the kind of person who", "I've always been the one who", "people like me who".
# The words between the copula and "who" are a noun phrase (no -ing verbs, no prepositions
# such as "about"), so "I'm reading about a founder who" is not the writer.
_SELF_ANTECEDENT: Final = re.compile(
    r"(?:^| )(?:(?:im|iam|i am|i m|i was|ive been|ive always been|i have always been)"
    r"(?: (?!(?:about|with|at|from|on|in|to|for|into|over|after)(?= ))"
    r"(?![a-z]+ing(?= ))[a-z]+){0,5}"
    r"|(?:like|as) me) $"
)
# Punctuation in one C-level pass: quotes become a '"' token, sentence ends a "." token, clause
# breaks a "," token; every other symbol (and a hyphen inside a word) becomes a space.
_PUNCT: Final = {ord(c): " " for c in map(chr, range(128)) if not (c.isalnum() or c == " ")}
_PUNCT.update({ord(c): ' " ' for c in "\"'`"})
_PUNCT.update({ord(c): " . " for c in ".!?;\n"})
_PUNCT.update({ord(c): " , " for c in ",:()[]{}"})


def _transpositions(word: str) -> set[str]:
    """Every spelling of ``word`` with two neighbouring letters swapped ("want" -> "wnat")."""
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    swaps.discard(word)
    return swaps


def _mask_fits(parts: list[str], word: str) -> bool:
    """Does a masked word ("s", "**", "cide") spell ``word``? A run of k symbols stands for
    k-1 to k+1 letters (at least one); letters must match exactly. Walks the set of reachable
    positions part by part, so the work is bounded by len(parts) * len(word)."""
    reachable = {0}
    for part in parts:
        if part[0] in "*#":
            k = len(part)
            reachable = {p + n for p in reachable for n in range(max(1, k - 1), k + 2)}
            reachable = {p for p in reachable if p <= len(word)}
        else:
            reachable = {p + len(part) for p in reachable if word.startswith(part, p)}
        if not reachable:
            return False
    return len(word) in reachable


class _Normaliser:
    """Turns raw chat text into the canonical form every rule is written against."""

    __slots__ = ("_join_heads", "_joinable", "_leet", "_masked", "_symbols", "_words")

    def __init__(
        self,
        words: Mapping[str, str],
        symbols: Mapping[str, str],
        leet: Mapping[str, str],
        sensitive: Iterable[str] = (),
        transposed: Iterable[str] = (),
        dropped_g: Iterable[str] = (),
    ) -> None:
        sensitive = tuple(sensitive)
        generated: dict[str, str] = {}
        # Typos: words explicitly listed, and the listed words themselves, always win.
        protected = set(words) | set(sensitive) | set(transposed) | set(dropped_g)
        for word in dropped_g:  # "killin" -> "killing"
            if word.endswith("ing") and word[:-1] not in protected:
                generated[word[:-1]] = word
        for word in transposed:  # "wnat" -> "want"
            for typo in sorted(_transpositions(word)):
                if typo not in protected and typo not in generated:
                    generated[typo] = word
        self._words = generated | dict(words)
        self._symbols = {ord(k): f" {v} " for k, v in symbols.items()}
        self._leet = str.maketrans(dict(leet))
        # Masked and split sensitive words: "s**cide", "sui cide" -> "suicide".
        self._masked = sensitive
        self._joinable = frozenset(sensitive)
        self._join_heads = frozenset(
            w[:i] for w in sensitive for i in range(2, len(w) - 1) if len(w) >= 7
        )

    def __call__(self, text: str) -> str:
        t = text
        if not t.isascii():
            t = t.translate(self._symbols)
            t = _INVISIBLE.sub("", t)
            t = unicodedata.normalize("NFKC", t).casefold()
            if not t.isascii():
                t = unidecode(t).replace("<<", '"').replace(">>", '"').replace(",,", '"')
        t = t.lower()
        if "'" in t or "`" in t:
            t = _APOSTROPHE_IN_WORD.sub("", t)
        t = _LEET_RUN.sub(self._leet_run, t)
        if self._masked and ("*" in t or "#" in t):
            t = _MASKED_WORD.sub(self._unmask, t)
        t = _SPACED.sub(self._join_spaced, t)
        t = _REPEATS.sub(r"\1", t)
        if "hhh" in t:
            t = _REPEATED_H.sub("hh", t)
        if "--" in t:
            t = t.replace("--", " , ")
        t = t.translate(_PUNCT)
        tokens = t.split()
        if not self._join_heads.isdisjoint(tokens):
            tokens = self._join_split(tokens)
        words = self._words
        if words and not words.keys().isdisjoint(tokens):
            tokens = [words.get(tok, tok) for tok in tokens]
        return f" {' '.join(tokens)} " if tokens else " "

    def _leet_run(self, m: re.Match[str]) -> str:
        return m.group().translate(self._leet)

    def _unmask(self, m: re.Match[str]) -> str:
        token = m.group()
        core = token.strip("*#")
        if len(core) > _MAX_MASKED or ("*" not in core and "#" not in core):
            return token
        parts = _MASK_PARTS.findall(core)
        if sum(len(p) for p in parts if p[0] not in "*#") < 2:
            return token
        for word in self._masked:
            if _mask_fits(parts, word):
                return token.replace(core, word)
        return token

    def _join_split(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        i, n = 0, len(tokens)
        while i < n:
            tok = tokens[i]
            if tok in self._join_heads and i + 1 < n and tok + tokens[i + 1] in self._joinable:
                out.append(tok + tokens[i + 1])
                i += 2
            else:
                out.append(tok)
                i += 1
        return out

    def _join_spaced(self, m: re.Match[str]) -> str:
        chars = _SPACED_JUNK.sub("", m.group())
        if sum(c.isalpha() for c in chars) < 2 or set(chars) <= _SPACED_WORDS:
            return m.group()
        return f" {chars.translate(self._leet)} "


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------

_ID: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")
_NEEDS_WORD: Final = re.compile(r"[a-z0-9]+")
_MACRO: Final = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_TOP_KEYS: Final = frozenset({"version", "normalise", "macros", "context", "rules"})
_RULE_KEYS: Final = frozenset(
    {
        "id",
        "level",
        "description",
        "patterns",
        "phrases",
        "derived",
        "negatable",
        "speaker_check",
        "report_denial",
        "quiet_when_joking",
        "quiet_in_media",
        "quiet_near",
        "examples",
        "needs",
    }
)
_FLAGS: Final = (
    "negatable",
    "speaker_check",
    "report_denial",
    "quiet_when_joking",
    "quiet_in_media",
)
_DERIVED: Final = frozenset({"negated_crisis", "third_party_crisis"})
# Word lists under `normalise:` (see rules.yaml): masked/split words, swapped letters, dropped g.
_WORD_LISTS: Final = ("sensitive_words", "typo_swaps", "dropped_g")
_CONTEXT_LISTS: Final = (
    "negation_cues",
    "negation_fillers",
    "third_person_subjects",
    "subject_fillers",
    "speech_verbs",
    "speech_objects",
    "first_person_speakers",
    "close_words",
    "first_person_words",
    "joking",
    "media_words",
    "stranger_words",
    "determiners",
    "thought_verbs",
    "second_hand_owners",
    "relations",
)
# Look back at most this many characters for negation, speakers and subjects: keeps the
# per-match work bounded, so screening stays linear on long messages.
_WINDOW: Final = 160


def _fail(where: str, problem: str) -> ValueError:
    return ValueError(f"rules.yaml: {where}: {problem}")


def _str_list(value: Any, where: str, key: str, *, allow_empty: bool = False) -> list[str]:
    if value is None and allow_empty:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(where, f"{key!r} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise _fail(where, f"{key!r} must not be empty")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _fail(where, "must be a mapping of strings to strings")
    return dict(value)


def _alternation(items: Iterable[str]) -> str:
    """Regex alternatives, longest first so that a longer phrase wins over its prefix."""
    return "|".join(sorted(set(items), key=lambda s: (-len(s), s)))


def _expand(pattern: str, macros: Mapping[str, str], where: str) -> str:
    for _ in range(10):
        missing = [name for name in _MACRO.findall(pattern) if name not in macros]
        if missing:
            raise _fail(where, f"unknown macro {{{missing[0]}}}")
        expanded = _MACRO.sub(lambda m: macros[m.group(1)], pattern)
        if expanded == pattern:
            return pattern
        pattern = expanded
    raise _fail(where, "macros nest too deeply (a macro refers to itself?)")


def _compile(source: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(source)
    except re.error as exc:
        raise _fail(where, f"bad regular expression: {exc}") from None


def _phrase_regex(phrase: str, norm: _Normaliser, where: str) -> str:
    words = norm(phrase).strip()
    if not words:
        raise _fail(where, f"phrase {phrase!r} is empty once normalised")
    return re.escape(words)


def load_rules(data: Any) -> RuleSet:
    """Validate parsed ``rules.yaml`` data and compile it; raise ``ValueError`` naming the rule."""
    if not isinstance(data, Mapping):
        raise _fail("top level", "must be a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail("top level", f"unknown keys {sorted(unknown)}")
    if data.get("version", 1) != 1:
        raise _fail("top level", f"unsupported version {data.get('version')!r}")

    raw_norm = data.get("normalise") or {}
    if not isinstance(raw_norm, Mapping):
        raise _fail("normalise", "must be a mapping")
    word_lists = {}
    for key in _WORD_LISTS:
        items = _str_list(raw_norm.get(key), "normalise", key, allow_empty=True)
        bad = [w for w in items if not re.fullmatch(r"[a-z]{2,}", w)]
        if bad:
            raise _fail(f"normalise.{key}", f"{bad[0]!r} must be one lower-case word")
        word_lists[key] = items
    if unknown := set(raw_norm) - {"words", "symbols", "leet", *_WORD_LISTS}:
        raise _fail("normalise", f"unknown keys {sorted(unknown)}")
    norm = _Normaliser(
        words=_str_map(raw_norm.get("words"), "normalise.words"),
        symbols=_str_map(raw_norm.get("symbols"), "normalise.symbols"),
        leet=_str_map(raw_norm.get("leet"), "normalise.leet"),
        sensitive=word_lists["sensitive_words"],
        transposed=word_lists["typo_swaps"],
        dropped_g=word_lists["dropped_g"],
    )
    for ch in _str_map(raw_norm.get("leet"), "normalise.leet"):
        if len(ch) != 1:
            raise _fail("normalise.leet", f"key {ch!r} must be a single character")

    macros = _str_map(data.get("macros"), "macros")
    for name in macros:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise _fail("macros", f"macro name {name!r} must be UPPER_CASE")
    for name, body in macros.items():
        _compile(_expand(body, macros, f"macro {name}"), f"macro {name}")

    ctx_raw = data.get("context")
    if not isinstance(ctx_raw, Mapping):
        raise _fail("context", "must be a mapping")
    ctx = {key: _str_list(ctx_raw.get(key), "context", key) for key in _CONTEXT_LISTS}
    unknown = set(ctx_raw) - set(_CONTEXT_LISTS)
    if unknown:
        raise _fail("context", f"unknown keys {sorted(unknown)}")

    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _fail("rules", "must be a non-empty list")
    compiled: list[Rule] = []
    seen: set[str] = set()
    derived_seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        rule = _load_rule(raw, index, macros, norm)
        if rule.id in seen:
            raise _fail(f"rule {rule.id!r}", "duplicate id")
        seen.add(rule.id)
        if rule.derived:
            if rule.derived in derived_seen:
                raise _fail(f"rule {rule.id!r}", f"a second {rule.derived!r} rule")
            derived_seen.add(rule.derived)
        compiled.append(rule)
    return RuleSet(tuple(compiled), norm, ctx, macros)


def _load_rule(raw: Any, index: int, macros: Mapping[str, str], norm: _Normaliser) -> Rule:
    if not isinstance(raw, Mapping):
        raise _fail(f"rule #{index + 1}", "must be a mapping")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise _fail(f"rule #{index + 1} (id {rule_id!r})", "id must look like 'crisis.some_name'")
    where = f"rule {rule_id!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)}")

    try:
        level = Level(raw.get("level"))
    except ValueError:
        raise _fail(where, "level must be 'crisis' or 'distress'") from None
    if level is Level.NONE:
        raise _fail(where, "level must be 'crisis' or 'distress'")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _fail(where, "needs a description")

    derived = raw.get("derived")
    if derived is not None:
        if derived not in _DERIVED:
            raise _fail(where, f"derived must be one of {sorted(_DERIVED)}")
        if level is not Level.DISTRESS:
            raise _fail(where, "a derived rule must have level 'distress'")

    patterns = _str_list(raw.get("patterns"), where, "patterns", allow_empty=True)
    phrases = _str_list(raw.get("phrases"), where, "phrases", allow_empty=True)
    if derived == "negated_crisis" and (patterns or phrases):
        raise _fail(where, "a 'negated_crisis' rule takes no patterns or phrases")
    if not derived and not patterns and not phrases:
        raise _fail(where, "needs at least one pattern or phrase")

    alternatives: list[str] = []
    for i, pattern in enumerate(patterns, 1):
        source = _expand(pattern, macros, f"{where} pattern {i}")
        _compile(source, f"{where} pattern {i}")
        alternatives.append(f"(?:{source})")
    alternatives += [_phrase_regex(p, norm, where) for p in phrases]
    regex = needs = None
    if alternatives:
        # A leading space (every token has one before it) and a space after: whole words only.
        # Compiled factored, with the words a match needs (bot/safety/factor.py); `needs:` in
        # the file overrides those.
        try:
            regex, needs = compile_rule(" (?:" + "|".join(alternatives) + ")(?= )")
        except (re.error, RecursionError) as exc:
            raise _fail(where, f"bad regular expression: {exc}") from None
        if regex.search("  ") or regex.search(" . , ") or regex.search(' " '):
            raise _fail(where, "a pattern matches empty text")
    if "needs" in raw:
        words = _str_list(raw.get("needs"), where, "needs")
        bad = [w for w in words if not _NEEDS_WORD.fullmatch(w)]
        if bad:
            raise _fail(where, f"needs: {bad[0]!r} must be one normalised word (a-z, 0-9)")
        if regex is None:
            raise _fail(where, "needs is only for rules with patterns or phrases")
        needs = frozenset(words)

    near = _str_list(raw.get("quiet_near"), where, "quiet_near", allow_empty=True)
    quiet_near = None
    if near:
        sources = [_expand(p, macros, f"{where} quiet_near") for p in near]
        quiet_near = _compile(" (?:" + "|".join(f"(?:{x})" for x in sources) + ")(?= )", where)
        if quiet_near.search("  ") or quiet_near.search(" . , "):
            raise _fail(where, "a quiet_near pattern matches empty text")

    flags: dict[str, bool] = {}
    for flag in _FLAGS:
        if flag in raw:
            if not isinstance(raw[flag], bool):
                raise _fail(where, f"{flag!r} must be true or false")
            flags[flag] = raw[flag]

    examples = raw.get("examples") or {}
    if not isinstance(examples, Mapping) or set(examples) - {"fires", "quiet"}:
        raise _fail(where, "examples must be a mapping with 'fires' and/or 'quiet' lists")
    fires = _str_list(examples.get("fires"), where, "examples.fires", allow_empty=True)
    quiet = _str_list(examples.get("quiet"), where, "examples.quiet", allow_empty=True)

    return Rule(
        id=rule_id,
        level=level,
        description=" ".join(description.split()),
        pattern=regex,
        derived=derived,
        quiet_near=quiet_near,
        needs=needs,
        fires=tuple(fires),
        quiet=tuple(quiet),
        **flags,
    )


# ---------------------------------------------------------------------------------------------
# Screening
# ---------------------------------------------------------------------------------------------

# What the checks make of one match.
_FIRE: Final = 0
_SKIP: Final = 1  # not the writer's own statement, or a joke/media mention: ignore it
_DENIED: Final = 2  # explicitly denied by the writer
_CLOSE: Final = 3  # about someone close to the writer (friend, family, colleague)


class _Message:
    """One normalised message plus facts the checks share, computed on first use."""

    __slots__ = ("joking", "media", "quotes", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.quotes: list[list[Any]] | None = None  # [start, end, classification or None]
        self.joking: bool | None = None
        self.media: bool | None = None
        self.tokens: frozenset[str] | None = None  # the message's words, for `needs`

    def lacks(self, needs: frozenset[str]) -> bool:
        """True when none of ``needs`` is a word of the message (the rule cannot match)."""
        if self.tokens is None:
            self.tokens = frozenset(self.text.split())
        return needs.isdisjoint(self.tokens)


def _sentence_span(norm: str, start: int, end: int) -> tuple[int, int]:
    """The sentence of normalised text around [start, end) (sentences end with " . ")."""
    left = norm.rfind(" . ", 0, start)
    right = norm.find(" . ", end)
    return (left + 2 if left >= 0 else 0, right + 1 if right >= 0 else len(norm))


def _without(norm: str, spans: list[tuple[int, int]]) -> str:
    """Normalised text with the given spans cut out (each replaced by a sentence break)."""
    if not spans:
        return norm
    parts, last = [], 0
    for start, end in sorted(spans):
        if start > last:
            parts.append(norm[last:start])
        last = max(last, end)
    parts.append(norm[last:])
    return " . ".join(part.strip() for part in parts if part.strip(" .,"))


class RuleSet:
    """Compiled rules plus the context word lists; ``screen`` is the one entry point."""

    def __init__(
        self,
        rules: tuple[Rule, ...],
        normaliser: _Normaliser,
        context: Mapping[str, list[str]],
        macros: Mapping[str, str],
    ) -> None:
        self.rules = rules
        self.normalise = normaliser
        self._crisis = tuple(r for r in rules if r.level is Level.CRISIS)
        self._distress = tuple(r for r in rules if r.level is Level.DISTRESS)

        def words(key: str) -> str:
            return _alternation(_expand(w, macros, f"context.{key}") for w in context[key])

        self._negation = _compile(
            rf"(?:^| )(?:{words('negation_cues')})(?: (?>{words('negation_fillers')}))*+ $",
            "context.negation_cues",
        )
        self._subject = _compile(
            rf"(?:^| )(?P<subj>{words('third_person_subjects')})"
            # "the guy in the movie wanted to die": a subject may carry a place or a source.
            r"(?: (?:in|at|from|on|of|with) (?:the|a|an|my|this|that|his|her|their)"
            r" [a-z]+(?: [a-z]+)?)?"
            rf"(?: (?>{words('subject_fillers')}))*+ $",
            "context.third_person_subjects",
        )
        verbs = words("speech_verbs")
        self._report_end = _compile(
            rf"(?:^| )(?:{verbs})(?: (?>{words('speech_objects')}))?(?: (?:that|like))?"
            r"(?: ,)?(?: \")?(?: (?:i|im|i am|i m|id|ill|ive|iam))? $",
            "context.speech_verbs",
        )
        self._report_start = _compile(
            rf"^(?: ,)? (?:(?P<who>(?:[a-z]+ ){{1,3}}?)(?:{verbs})|(?:{verbs}) "
            rf"(?P<who2>[a-z]+(?: [a-z]+)?))(?= )",
            "context.speech_verbs",
        )
        self._first_person = _compile(rf" (?:{words('first_person_words')})(?= |$)", "context")
        # "a founder who went bankrupt and <match>": the relative clause's subject is someone
        # else, unless a first-person word sits in it.
        self._relative = _compile(
            rf" (?P<ante>(?:[a-z]+ ){{0,6}})who(?: (?!(?:{words('first_person_words')}) )"
            r"[a-z]+){1,8} (?:and|but|then|and then|so)"
            rf"(?: (?>{words('subject_fillers')}))*+ $",
            "context.first_person_words",
        )
        # "a guy at the job fair told me he ...": an indefinite stranger before a pronoun.
        self._stranger = _compile(rf" (?:{words('stranger_words')})(?= )", "context.stranger_words")
        self._joking = _compile(rf" (?:{words('joking')})(?= )", "context.joking")
        self._speakers = frozenset(context["first_person_speakers"])
        # Plain-word third-person subjects ("he", "guy", "who", "character"), for _who.
        self._others = frozenset(
            w for w in context["third_person_subjects"] if re.fullmatch(r"[a-z]+", w)
        )
        self._close = frozenset(context["close_words"])
        self._determiners = frozenset(context["determiners"])
        self._thought_verbs = frozenset(context["thought_verbs"])
        self._second_hand_owners = frozenset(context["second_hand_owners"])
        self._relations = frozenset(context["relations"])
        self._media = frozenset(context["media_words"])
        self._pronouns = frozenset({"he", "she", "they", "hes", "shes", "theyre", "theyve"})

    # -- public --------------------------------------------------------------------------------

    def screen(self, text: str) -> Screening:
        """The rules' verdict on a raw message (the model is not consulted)."""
        if not isinstance(text, str):
            raise TypeError(f"screen() needs a str, not {type(text).__name__}")
        return self.judge(self.normalise(text))[0]

    def judge(self, norm: str) -> tuple[Screening, str | None]:
        """The rules' verdict on normalised text, and the text the model may still read.

        The text is None when the rules settled the message: a crisis rule fired, or a crisis
        statement was explicitly denied or was about someone close (wherever in the message,
        even when a distress rule decides the verdict); also when no word is left to read.
        Otherwise it is the message without the sentences whose crisis match the checks set
        aside (a stranger, a character, the news, a joke, a quiet context): the rules read
        those closely, the rest is open to the model.
        """
        if len(norm) <= 2:
            return _NO_CONCERN, None
        msg = _Message(norm)
        denied = close = False
        aside: list[tuple[int, int]] = []
        for rule in self._crisis:
            if rule.pattern is None or (rule.needs is not None and msg.lacks(rule.needs)):
                continue
            for m in rule.pattern.finditer(norm):
                outcome = self._check(rule, msg, m)
                if outcome == _FIRE:
                    return Screening(rule.level, rule.id), None
                if outcome == _DENIED and rule.report_denial:
                    denied = True
                elif outcome == _CLOSE:
                    close = True
                else:
                    aside.append(_sentence_span(norm, m.start(), m.end()))
        rest = None if denied or close else _without(norm, aside)
        if rest is not None and len(rest.strip(" .,")) <= 2:
            rest = None
        for rule in self._distress:
            if (rule.derived == "negated_crisis" and denied) or (
                rule.derived == "third_party_crisis" and close
            ):
                return Screening(rule.level, rule.id), rest
            if rule.pattern is None or (rule.needs is not None and msg.lacks(rule.needs)):
                continue
            for m in rule.pattern.finditer(norm):
                if self._check(rule, msg, m) == _FIRE:
                    return Screening(rule.level, rule.id), rest
        return _NO_CONCERN, rest

    # -- checks --------------------------------------------------------------------------------

    def _check(self, rule: Rule, msg: _Message, m: re.Match[str]) -> int:
        text = msg.text
        pos = m.start() + 1  # the match starts with the space before its first word
        before = text[max(0, pos - _WINDOW) : pos]
        cut = before.rfind(" . ")
        sentence = before[cut + 2 :] if cut >= 0 else before
        cut = max(sentence.rfind(" , "), sentence.rfind(' " '))
        clause = sentence[cut + 2 :] if cut >= 0 else sentence

        if rule.speaker_check:
            speaker = self._speaker(msg, pos, sentence, clause, m.group())
            if speaker != _FIRE:
                return speaker if rule.level is Level.CRISIS else _SKIP
        elif rule.derived == "third_party_crisis" and self._about_stranger(sentence):
            return _SKIP
        if rule.quiet_near is not None:
            window = text[max(0, pos - _WINDOW) : m.end() + _WINDOW]
            if rule.quiet_near.search(window):
                return _SKIP
        if rule.negatable and self._negation.search(clause):
            return _DENIED
        if rule.quiet_when_joking and self._is_joking(msg):
            return _SKIP
        if rule.quiet_in_media and self._is_media(msg):
            return _SKIP
        return _FIRE

    def _speaker(self, msg: _Message, pos: int, sentence: str, clause: str, matched: str) -> int:
        """_FIRE if the match is the writer's own statement, else _SKIP or _CLOSE."""
        quoted = self._quote_frame(msg, pos)
        if quoted is not None:
            if quoted != _FIRE:
                return quoted
        else:
            frame = self._report_end.search(sentence)
            if frame:
                who = self._who(sentence[: frame.start() + 1].split(), frame.group())
                if who != _FIRE:
                    return who
        if not self._first_person.search(matched):
            subject = self._subject.search(clause)
            writer_who = (
                subject is not None
                and subject.group("subj") == "who"
                and self._writer_is_antecedent(clause[: subject.start("subj")])
            )
            if writer_who:
                return _FIRE  # "I'm someone who always wants to die": the writer
            if subject:
                words = clause.split()
                if self._is_close(words):
                    return _CLOSE
                if subject.group("subj") in self._pronouns and not self._is_media(msg):
                    return _SKIP if self._about_stranger(sentence) else _CLOSE
                return _SKIP
            relative = self._relative.search(clause)
            if relative:
                before_who = clause[: relative.start("ante")] + " " + relative.group("ante")
                if not self._writer_is_antecedent(before_who):
                    return _CLOSE if self._is_close(clause.split()) else _SKIP
        return _FIRE

    @staticmethod
    def _writer_is_antecedent(before_who: str) -> bool:
        """Is "who" about the writer? Looks at the (at most seven) words before it."""
        words = before_who.split()[-7:]
        return _SELF_ANTECEDENT.search(" " + " ".join(words) + " ") is not None

    def _about_stranger(self, sentence: str) -> bool:
        """An indefinite stranger ("a guy", "some woman") and nobody close in the sentence."""
        return self._stranger.search(sentence) is not None and not self._is_close(sentence.split())

    def _is_close(self, words: list[str]) -> bool:
        """A close word ("my", "our") that is not second-hand: "my friend's cousin" and "my
        coworker's brother" are acquaintances of someone close, not close to the writer."""
        for i, word in enumerate(words):
            if word in self._close:
                owner = words[i + 1 : i + 2]
                relation = words[i + 2 : i + 3]
                if not (
                    owner
                    and owner[0] in self._second_hand_owners
                    and relation
                    and relation[0] in self._relations
                ):
                    return True
        return False

    def _who(self, words: list[str], frame: str = "") -> int:
        """Classify the speaker of reported speech from the words before the speech verb
        (``frame`` is the verb phrase itself: "said", "stood there thinking" ...)."""
        for i in range(len(words) - 1, -1, -1):
            if words[i] in {".", ",", '"'}:
                words = words[i + 1 :]
                break
        clause, words = words, words[-3:]
        if not words or not self._speakers.isdisjoint(words):
            return _FIRE  # "I said ..." or no subject at all: the writer's own words
        if self._is_close(words):
            return _CLOSE
        # "I went to the bridge and just stood there thinking ...", "stood on the footbridge
        # thinking ...": the thinker is left out, and nobody but the writer could be it (no
        # third-person subject, and the clause does not open on a noun phrase such as "the
        # recruiter" or "a guy I met"). Only for thoughts: speech usually names its speaker.
        if (
            not self._thought_verbs.isdisjoint(frame.split())
            and self._others.isdisjoint(clause)
            and clause[0] not in self._determiners
        ):
            return _FIRE
        # "my friend went to the bridge and stood there thinking ...": someone close.
        for i, word in enumerate(clause[:-1]):
            if word in self._close and not self._others.isdisjoint(clause[i + 1 : i + 3]):
                return _CLOSE if self._is_close(clause[i:]) else _SKIP
        return _SKIP

    def _quote_frame(self, msg: _Message, pos: int) -> int | None:
        """None if pos is not inside quotes; otherwise how to treat the quoted words."""
        if msg.quotes is None:
            msg.quotes = self._find_quotes(msg.text)
        for region in msg.quotes:
            start, end = region[0], region[1]
            if start < pos < end:
                if region[2] is None:
                    region[2] = self._classify_quote(msg, start, end)
                return region[2]
        return None

    @staticmethod
    def _find_quotes(text: str) -> list[list[Any]]:
        marks: list[int] = []
        i = text.find(' " ')
        while i >= 0:
            marks.append(i)
            i = text.find(' " ', i + 2)
        regions: list[list[Any]] = []
        for k in range(0, len(marks), 2):
            start = marks[k]
            if k + 1 < len(marks):
                end = marks[k + 1]
            else:  # an unclosed quote runs to the end of its sentence
                stop = text.find(" . ", start)
                end = stop if stop >= 0 else len(text)
            regions.append([start, end, None])
        return regions

    def _classify_quote(self, msg: _Message, start: int, end: int) -> int:
        text = msg.text
        sent_start = text.rfind(" . ", max(0, start - _WINDOW), start)
        before = text[(sent_start + 2 if sent_start >= 0 else max(0, start - _WINDOW)) : start + 1]
        frame = self._report_end.search(before)
        if frame:
            return self._who(before[: frame.start() + 1].split(), frame.group())
        after = self._report_start.search(text[end + 2 : end + 2 + _WINDOW])
        if after:
            who = after.group("who") or after.group("who2") or ""
            return self._who(who.split())
        sent_end = text.find(" . ", end)
        sentence = text[max(sent_start, 0) : sent_end if sent_end >= 0 else len(text)]
        if not self._media.isdisjoint(sentence.split()):
            return _SKIP  # a title or line from a film, song, book or the news
        return _FIRE  # quotes for emphasis or the writer's own thoughts

    def _is_joking(self, msg: _Message) -> bool:
        if msg.joking is None:
            msg.joking = self._joking.search(msg.text) is not None
        return msg.joking

    def _is_media(self, msg: _Message) -> bool:
        if msg.media is None:
            msg.media = not self._media.isdisjoint(msg.text.split())
        return msg.media


def _load_default() -> RuleSet:
    with RULES_PATH.open(encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"rules.yaml: not valid YAML: {exc}") from None
    return load_rules(data)


_DEFAULT: Final = _load_default()
MODEL_CRISIS: Final = "model.crisis"
MODEL_DISTRESS: Final = "model.distress"
CONTEXTUAL_CRISIS: Final = "contextual.crisis"


def screen(text: str) -> Screening:
    """Screen one message (any length; no I/O, no logging). See the module docstring."""
    return _screen(text, None)


def screen_with(reader: ContextualModel) -> Callable[[str], Screening]:
    """``screen`` that also asks the contextual reader about messages in its band (see
    ``contextual.py``). Blocks while the reader reads: for scripts and tests; the app reads off
    the event loop (``bot/app.py``, ``screen_off_loop``)."""
    return functools.partial(_screen, reader=reader)


def _screen(text: str, reader: ContextualModel | None) -> Screening:
    verdict = first_look(text, None if reader is None else reader.band)
    if isinstance(verdict, Pending):
        assert reader is not None
        return verdict.settle(reader.read(verdict.rest))
    return verdict


@dataclass(frozen=True, slots=True)
class Pending:
    """A verdict that waits for the contextual reader: ``settle`` it with the reader's reading
    of ``rest`` (the normalised text the rules left open), or fall back on ``alone``, the word
    model's own verdict. ``bot/app.py`` reads it off the event loop: a long message is many
    windows, about 2 ms each."""

    decided: Screening
    alone: Screening
    rest: str
    band: Band

    def settle(self, reading: Reading) -> Screening:
        return _settle(self.decided, self.alone, self.band, reading)


def first_look(text: str, band: Band | None) -> Screening | Pending:
    """The rules' and the word model's verdict; with the reader's ``band``, a :class:`Pending`
    instead when the reader must be asked (see :func:`second_look`)."""
    if not isinstance(text, str):
        raise TypeError(f"screen() needs a str, not {type(text).__name__}")
    verdict, rest = _DEFAULT.judge(_DEFAULT.normalise(text))
    if rest is None:
        return verdict
    learned = model()
    scores = learned.scores(rest)
    alone = decide(verdict, scores, learned.thresholds)
    if band is None:
        return alone
    decided = decide(verdict, scores, with_reader(learned.thresholds, band))
    if not _asks_reader(decided, scores, band):
        return decided
    return Pending(decided, alone, rest, band)


@functools.cache
def model() -> Model:
    """The learned second opinion, read from model.json on first use.

    Start-up code (bot/app.py, `rebound check`) calls this before any message, so that a broken
    model file stops start-up like a broken rules file; the training script can import this
    module before a model file exists.
    """
    return Model.load()


def judge(text: str) -> tuple[Screening, str | None]:
    """The rules' verdict, and the normalised text the model may read (None: the rules settled
    the message). For the training script, which must combine the two exactly as screen()."""
    return _DEFAULT.judge(_DEFAULT.normalise(text))


def decide(verdict: Screening, scores: Scores, thresholds: Thresholds) -> Screening:
    """Combine a rules verdict the model may overrule with the model's scores.

    The model can raise a verdict, never lower it: a rule that fired stays fired.
    """
    if scores.crisis >= thresholds.crisis_for(scores.words):
        return Screening(Level.CRISIS, MODEL_CRISIS)
    if verdict.level is Level.NONE and scores.distress >= thresholds.distress:
        return Screening(Level.DISTRESS, MODEL_DISTRESS)
    return verdict


def with_reader(thresholds: Thresholds, band: Band) -> Thresholds:
    """The linear model's thresholds while the contextual reader is on (``Band.linear``)."""
    crisis = max(thresholds.crisis, band.linear)
    return Thresholds(crisis, max(thresholds.crisis_short, crisis), thresholds.distress)


def second_look(
    decided: Screening,
    alone: Screening,
    scores: Scores,
    band: Band,
    read: Callable[[], Reading],
) -> Screening:
    """The verdict with the contextual reader, asked only inside its band.

    ``decided`` is :func:`decide`'s verdict with the linear thresholds the reader needs
    (:func:`with_reader`), ``alone`` the word model's own verdict. ``read`` runs the reader
    (about 2 ms), so only for a message of more than ``TOO_SHORT`` words that is not already a
    crisis and whose linear crisis score is at least ``band.low``. Its crisis call (from
    :func:`reader_threshold`) raises the verdict; otherwise a message too long for one window
    keeps the word model's own verdict (the thresholds were chosen on messages that fit), and
    one that fits keeps ``decided``.
    """
    return _settle(decided, alone, band, read()) if _asks_reader(decided, scores, band) else decided


def _asks_reader(decided: Screening, scores: Scores, band: Band) -> bool:
    return not (
        decided.level is Level.CRISIS or scores.words <= TOO_SHORT or scores.crisis < band.low
    )


def reader_threshold(alone: Screening, band: Band) -> float:
    """The reader's crisis threshold for a message it is asked about: ``band.confirm`` when the
    word model alone calls it a crisis (a linear score handed over by ``band.linear``)."""
    return band.confirm if alone.level is Level.CRISIS else band.crisis


def _settle(decided: Screening, alone: Screening, band: Band, reading: Reading) -> Screening:
    if reading.crisis >= reader_threshold(alone, band):
        return Screening(Level.CRISIS, CONTEXTUAL_CRISIS)
    return decided if reading.whole else alone


def rules_only(text: str) -> Screening:
    """The phrase rules' verdict without the model (for training the model and for tests)."""
    return _DEFAULT.screen(text)


def normalise(text: str) -> str:
    """The canonical form the rules are matched against (exposed for tests and rule authors)."""
    return _DEFAULT.normalise(text)


def rules() -> tuple[Rule, ...]:
    """The compiled rules, in file order (crisis rules are checked before distress rules)."""
    return _DEFAULT.rules
