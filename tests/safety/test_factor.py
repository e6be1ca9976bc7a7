"""bot/safety/factor.py rewrites every rule pattern for speed; it must never change a match.

Compares the shipped (factored) rules with the same rules.yaml compiled without factoring, on
every message the project has: rule examples and all training data.
"""

from __future__ import annotations

import csv
import importlib
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety.factor import compile_rule
from bot.safety.screen import RULES_PATH, load_rules, normalise, rules

screen_module = importlib.import_module("bot.safety.screen")
REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "bench" / "data"


@pytest.fixture(scope="module")
def unfactored() -> dict:
    """The shipped rules compiled as written, without factoring."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(screen_module, "compile_rule", lambda source: (re.compile(source), None))
        plain = load_rules(yaml.safe_load(RULES_PATH.read_text(encoding="utf-8")))
    return {rule.id: rule.pattern for rule in plain.rules}


def _training_texts() -> list[str]:
    texts = []
    for path in sorted((DATA / "safety_train").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    return texts


def _spans(pattern: re.Pattern[str], norm: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(norm)]


def test_every_rule_is_factored(unfactored: dict) -> None:
    for rule in rules():
        if rule.pattern is not None:
            assert rule.pattern.pattern != unfactored[rule.id].pattern, rule.id


def test_factored_rules_match_exactly_where_the_originals_do(unfactored: dict) -> None:
    texts = [t for r in rules() for t in (*r.fires, *r.quiet)] + _training_texts()
    assert len(texts) > 10_000
    for text in texts:
        norm = normalise(text)
        for rule in rules():
            if rule.pattern is not None:
                expected = _spans(unfactored[rule.id], norm)
                assert _spans(rule.pattern, norm) == expected, (rule.id, text)


WORDS = ["i", "im", "not", "want", "to", "die", "kill", "my", "self", "myself", "end", "it"]
WORDS += ["all", "pills", "tonight", ".", ",", '"', "lol"]


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), max_size=14))
def test_factored_rules_agree_on_random_word_salad(unfactored: dict, words: list[str]) -> None:
    norm = normalise(" ".join(words))
    for rule in rules():
        if rule.pattern is not None:
            assert _spans(rule.pattern, norm) == _spans(unfactored[rule.id], norm), rule.id


def test_a_rule_runs_whenever_it_could_match() -> None:
    """A rule is skipped on a message without any of its `needs` words (found by
    compile_rule or written in rules.yaml): on every message the project has, a match of
    the rule must contain one of them."""
    texts = [t for r in rules() for t in (*r.fires, *r.quiet)] + _training_texts()
    with_needs = [r for r in rules() if r.needs is not None and r.pattern is not None]
    assert len(with_needs) >= 33  # of 47 with patterns
    for text in texts:
        norm = normalise(text)
        for rule in with_needs:
            if rule.pattern.search(norm):
                assert not rule.needs.isdisjoint(norm.split()), (rule.id, text)


def test_required_words_are_found_from_the_pattern() -> None:
    _, words = compile_rule(r" (?:(?:i|we) sat in (?:the|my) (?:car|garage))(?= )")
    assert words == {"sat"}  # the rarest part that every match spells
    # an alternative with nothing to require, or only everyday words: nothing to skip on
    assert compile_rule(r" (?:kms|(?: [^ ]+){0,3} i)(?= )")[1] is None
    assert compile_rule(r" (?:i am|it is)(?= )")[1] is None


def test_words_after_a_run_of_optional_words_are_required_too() -> None:
    """A repeat of whole words at a word start ("{MAYBE}") leaves what follows at a word start."""
    maybe = r"(?:(?:just|so) )*+"
    assert compile_rule(rf" (?:(?:i|we) {maybe}(?:died|sat in the car))(?= )")[1] == {
        "died",
        "sat",
    }
    # glued to a word before it, the repeat may match nothing: "wedied" is one word
    assert compile_rule(rf" (?:(?:i|we){maybe}(?:died|sat in the car))(?= )")[1] is None


def test_words_before_a_run_of_any_words_are_required_too() -> None:
    """A repeat of words each with its space before it ("(?: [^ ]+){0,3}"), then a space:
    what comes before it ends a word."""
    source = r" (?:(?:how|what) (?:pills|tablets)(?: [^ ]+){0,3} would it be)(?= )"
    assert compile_rule(source)[1] == {"pills", "tablets"}
    # glued to the word after it, the repeat may match nothing: "pillsbe" is one word
    assert compile_rule(r" (?:(?:how|what) (?:pills|tablets)(?: [^ ]+){0,3}be)(?= )")[1] is None


def test_alternatives_sharing_a_first_letter_keep_their_order() -> None:
    pattern, _ = compile_rule(r" (?:ab|xy|a|abc)(?= )")
    assert pattern.pattern != r" (?:ab|xy|a|abc)(?= )"
    for text, span in [(" abc ", (0, 4)), (" ab ", (0, 3)), (" a ", (0, 2)), (" xy ", (0, 3))]:
        assert pattern.search(text).span() == span, text


@pytest.mark.parametrize(
    "source",
    [r"(a)\1", r"(?P<x>a)(?(x)b|c)"],  # back references and conditionals are left alone
)
def test_unknown_constructs_leave_the_pattern_as_it_was(source: str) -> None:
    assert compile_rule(source)[0].pattern == source
