"""Tests for bot.safety.screen: every rule's own examples, the spec's must-catch and must-not-fire
lists, negation, reported speech, normalisation, rule-file validation and a timing benchmark.

Fixture text is neutral and made up; no real people.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import Level, Screening, screen
from bot.safety.screen import (
    MODEL_CRISIS,
    MODEL_DISTRESS,
    RULES_PATH,
    load_rules,
    normalise,
    rules,
    rules_only,
)

RULES = rules()
RULE_BY_ID = {r.id: r for r in RULES}
LEVEL_OF = {r.id: r.level for r in RULES} | {
    MODEL_CRISIS: Level.CRISIS,
    MODEL_DISTRESS: Level.DISTRESS,
}
RAW_RULES = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
REPO = Path(__file__).resolve().parents[2]

NONE = Screening(Level.NONE, None)


# --- every rule, from its own examples in rules.yaml -----------------------------------------
# These pin each rule on its own (rules_only); the model's second opinion is tested below and in
# tests/safety/test_model.py.

FIRES = [pytest.param(r.id, t, id=f"{r.id}|{t[:40]}") for r in RULES for t in r.fires]
QUIET = [pytest.param(r.id, t, id=f"{r.id}|{t[:40]}") for r in RULES for t in r.quiet]


@pytest.mark.parametrize(("rule_id", "text"), FIRES)
def test_rule_fires_on_its_examples(rule_id: str, text: str) -> None:
    rule = RULE_BY_ID[rule_id]
    assert rules_only(text) == Screening(rule.level, rule.id)


@pytest.mark.parametrize(("rule_id", "text"), QUIET)
def test_rule_stays_quiet_on_its_counter_examples(rule_id: str, text: str) -> None:
    rule = RULE_BY_ID[rule_id]
    got = rules_only(text)
    assert got.level.severity < rule.level.severity, got


def test_every_rule_has_positive_and_negative_examples() -> None:
    """Adding a rule to rules.yaml without examples fails here."""
    raw_ids = [raw["id"] for raw in RAW_RULES["rules"]]
    assert raw_ids == [r.id for r in RULES]
    missing_fires = [r.id for r in RULES if not r.fires]
    missing_quiet = [r.id for r in RULES if not r.quiet]
    assert not missing_fires, f"rules without a `fires` example: {missing_fires}"
    assert not missing_quiet, f"rules without a `quiet` example: {missing_quiet}"


def test_needs_never_hides_a_match() -> None:
    """A rule with `needs` is skipped when the message has none of those words. On every text
    this file and rules.yaml know, a match of the rule's patterns must include one of them."""
    texts = [t for r in RULES for t in (*r.fires, *r.quiet)]
    texts += MUST_BE_CRISIS + MUST_BE_DISTRESS + IDIOMS + [t for t, _, _ in JUDGMENT_CALLS]
    for rule in RULES:
        if rule.needs is None or rule.pattern is None:
            continue
        for text in texts:
            norm = normalise(text)
            if rule.pattern.search(norm):
                assert not rule.needs.isdisjoint(norm.split()), (rule.id, text)


def test_rule_ids_are_stable_and_namespaced_by_level() -> None:
    for rule in RULES:
        assert rule.id.split(".")[0] == rule.level.value
        assert rule.description
    assert {r.derived for r in RULES if r.derived} == {"negated_crisis", "third_party_crisis"}


# --- what the product must catch -------------------------------------------------------------

MUST_BE_CRISIS = [
    # direct
    "I want to kill myself",
    "I'm going to end it all",
    "I want to die",
    "I'm going to kill myself after this last interview",
    # indirect
    "everyone would be better off without me",
    "I won't be around much longer",
    "there is no reason to live",
    "I don't want to wake up",
    "I've been giving my things away",
    "thinking about ending my life",
    "nobody would even notice if I disappeared",
    # slang and abbreviations
    "kms",
    "ugh kms",
    "I'm going to kys",
    "unalive myself",
    "sewerslide",
    "end it",
    "I just want to end it",
    "ctb",
    "I'm thinking about ctb",
    # misspellings, spacing, leet, repeats, homoglyphs, invisible characters
    "kil myself",
    "k i l l myself",
    "k.i.l.l myself",
    "k-i-l-l myself",
    "I want to commit su1cide",
    "I'm suicdal",
    "I want to diiiie",
    "I wanna d!e",
    "I w@nt to kill mys3lf",
    "I want to k\u0456ll myself",  # Cyrillic i
    "I want to ki\u200bll myself",  # zero-width space
    "I WANT TO KILL MYSELF",
    "\uff4b\uff49\uff4c\uff4c \uff4d\uff59\uff53\uff45\uff4c\uff46",  # full-width
    "I want to \U0001d4c0\U0001d4be\U0001d4c1\U0001d4c1 myself",
    # inside a longer story
    (
        "So the recruiter called at 5pm and said they went with someone internal. "
        "I've been applying for eight months, my savings are gone, and honestly "
        "I've been thinking about killing myself. Anyway, sorry for the rant."
    ),
    # self-harm
    "I cut myself again",
    "I want to hurt myself",
    "I've been self harming",
    "self-harm again tonight",
    "did sh again",
    # harm to others: explicit plans, weapons, stated intention to hurt
    "I'm going to hurt him",
    "I'm bringing a knife to work tomorrow",
    "I've been planning to hurt my old manager",
    # masked, split and mistyped words
    "been thinking about s**cide since Monday",
    "feeling su*cidal tonight",
    "been considering sui cide lately",
    "I wnat to kill myself",
    "thinkin bout killin myself",
    "I want to k*ll myself",
    # passive wishes, final acts, means (see the crisis.* rules for each family's examples)
    "I just want to fall asleep forever",
    "I've written my note",
    "I won't be a problem to anyone much longer",
    "I have my sleeping pills lined up on the nightstand",
    "I'm standing on the ledge of the car park",
    # round three families, each in wording of its own (not copied from any evaluation set)
    "if the offer falls through on friday im ending it",  # conditional intent
    "two more weeks and if nothing comes I'm ending it all",
    "i am decide to finish my life, sorry for bad english",  # learners' English
    "honestly it's better for my parents if I die",
    "i rather be dead than keep being this useless",
    "i want out. out of life, not out of the industry",
    "I want to leave this world quietly",
    "just want to disappear forever and not come back",
    "done with life now",
    "how much of my insulin would it take",  # means
    "keep thinking about lying down on the railway tracks",
    "part of me wants to steer into the oncoming traffic on the motorway",
    "wish a truck would hit me on the way to the job centre",
    "left my bank details and logins with my brother for when I'm gone",  # arrangements
    "the dog's going to my aunt and everything is taken care of. I'm at peace now",
    "he's going to pay. I know which train he gets home",  # harm to others
    "got a hammer in my backpack and she's going to regret what she did",
    "bought a handgun after they sacked me, not for protection",
    "smashed my hand into the mirror until my knuckles were bleeding",  # deliberate injury
    "this might be my last message. thanks for putting up with me",  # final words
    "not going to be around for round 5. or any round",
]


@pytest.mark.parametrize("text", MUST_BE_CRISIS)
def test_crisis_statements_are_caught(text: str) -> None:
    got = screen(text)
    assert got.level is Level.CRISIS, (got, normalise(text))
    assert got.rule in RULE_BY_ID


MUST_BE_DISTRESS = [
    "I feel hopeless",
    "I'm worthless",
    "I can't cope",
    "what's the point",
    "I'm a failure at everything",
    "I can't take this anymore",
    "nothing will ever get better",
    "I hate myself",
    # round three families
    "haven't slept properly in over a fortnight, lying awake all night",
    "no appetite at all since the call",
    "my chest goes tight whenever the phone rings",
    "heart hammering all night about the mortgage",
    "I feel like such a drain on my wife",
    "nobody to talk to about any of this",
    "I just lie and stare at the ceiling for hours",
    "zero energy and zero motivation since the redundancy",
    "petrified I'll never work again",
    "cried in the shower for an hour",
    "I don't know how to carry on with this",
    "don't think I can keep doing this anymore",
]


@pytest.mark.parametrize("text", MUST_BE_DISTRESS)
def test_distress_without_intent_is_distress(text: str) -> None:
    got = screen(text)
    assert got.level is Level.DISTRESS, got


# --- what must not fire ----------------------------------------------------------------------

IDIOMS = [
    "this job hunt is killing me",
    "I'd kill for a coffee",
    "I nearly died of embarrassment",
    "my pitch died in the room",
    "stuck in a dead end job",
    "I'm dead tired",
    "that interview killed me",
    "the deadline is Friday",
    "kill the process and restart",
    "the project is dead",
    "I could die laughing",
    "the news said a man killed himself in the station",
    'the character says "I want to die"',
    "the character says 'I want to die' and then the credits roll",
    '"I want to die," the character says',
    "I killed it in the final round",
    "killed it",
    "I'm gonna kill it at the pitch tomorrow",
    "the hiring freeze is killing the market",
    "I'd rather die than work there again",
    "kill me now, another take-home test",
    "I'm dying to hear back",
    "I shot myself in the foot with that answer",
    "I need to cut myself some slack",
    "I'm going to burn myself out",
    "I'm going to cut my losses",
    # quitting something, said as a plan: short "I'm going to ..." reads like the plans in the
    # crisis data, so several are known false alarms (below)
    "I'm going to throw in the towel",
    "I'm going to call it a day",
    "I'm going to bow out of the race",
    "I'm going to let it go",
    "I'm going to walk away from it all",
    "I'm going to drop out of the programme",
    "I'm going to check out early today",
    "I'm going to take the hit",
    "I'm going to pack it in",
    "I'm going to cut them loose",
    "I'm going to close this chapter",
    "I'm going to pull the plug on this startup",
    "applying there would be career suicide",
    "I'm going to overdose on coffee",
    "I'm going to shoot my shot",
    "I could kill my boss lol",
    "I want to kill my boss",
    "let's kill two birds with one stone",
    "Got rejected again today. Third final round this month.",
    "They said I'm not senior enough. I think they're wrong.",
    "I got laid off and I'm worried about money",
    "This rejection hurts so much",
    "I'm going to take my life savings and start a business",
    "I have to catch the bus at 8",
    "my old laptop is dead",
    # the everyday senses of the new families' words
    "my phone is dying and the recruiter is about to call",
    "I'd jump at the chance to work there",
    "we're cutting costs again this quarter",
    "can we rope in a colleague to review my portfolio?",
    "I take pills for my headache before long interviews",
    "note to self: send the thank-you email",
    "goodbye forever, toxic slack",
    "the podcast host thought about ending it all after his startup failed",
    "a guy at the job fair said he wanted to die after 300 applications",
    "I'm dying to hear back from them",
    "I'm a fraud investigator, any tips for the panel?",
    "my goodbye email to the team goes out Friday, last day",
    "f*ck this job market",
    # round three: the everyday senses of the new families' words
    "the train was late and I missed the start of the assessment",
    "my insulin pump beeped halfway through the interview",
    "passwords for the new job portal keep expiring",
    "I'll make him pay for lunch, he lost the bet",
    "I'd rather die than sing karaoke at the team night lol",
    "I'd rather die than do another unpaid take-home",
    "I could kill myself laughing at that interview question",
    "I'm ending it with this recruiter, they never call back",
    "what do I want out of life? good question for my coach",
    "I want to disappear to a cabin for a month after this",
    "done with living out of a suitcase, I want a local job",
    "found a sitter for the cat while I'm at the assessment centre",
    "I know where he parks, I'll ask him to move his car",
    "bought a nail gun for the shed, DIY keeps me sane",
    "I punched the air when they called with the offer",
    "this is my last message for today, talk tomorrow",
    "thanks for everything, I got the job! deleting the app now",
    "I'm at peace with the rejection, onwards",
    "the podcast host talked about her brother's overdose",
    "my coworker's cousin took his own life years ago, we run a fundraiser",
    "stepped off the train and walked straight into the interview",
    "",
    "   ",
    "🙂",
]


# Known false alarms of the learned second opinion (bot/safety/model.py): a model over words
# and word pairs reads "burn myself out" near "hurt myself". Kept visible rather than trained
# away one by one; strict, so a model that stops making one of them fails here until the entry
# goes. The rules alone stay quiet on all of them (test_the_rules_alone_stay_quiet_on_idioms
# and the policy).
MODEL_FALSE_ALARMS = {
    "I'm going to burn myself out": Screening(Level.CRISIS, MODEL_CRISIS),
    # over the crisis threshold (0.82 against 0.74 since the retrain with author_44 to 47): with
    # the reader on, the default, it is quiet (tests/safety/test_contextual.py)
    "done with living out of a suitcase, I want a local job": Screening(Level.CRISIS, MODEL_CRISIS),
    # gentle check-ins for sadness and worry: the distress threshold fell from 0.71 to 0.61 in
    # the retrain with the everyday files (the limits are rates, and the everyday pool doubled
    # with plainer messages; 0.62 now); the reader leaves distress to the word model
    "This rejection hurts so much": Screening(Level.DISTRESS, MODEL_DISTRESS),
    "I got laid off and I'm worried about money": Screening(Level.DISTRESS, MODEL_DISTRESS),
    # new with the retrain with author_44 to author_47 (0.76, threshold 0.74; it was 0.43), and
    # the reader keeps it (0.729, just under its own 0.73): "I'm going to cut" reads as a plan.
    # Longer, it is quiet ("... and apply elsewhere" 0.26), except "... and go home", which
    # the model before took for a crisis too (with the reader as well)
    "I'm going to cut my losses": Screening(Level.CRISIS, MODEL_CRISIS),
    # quitting plans (the model before took all but "check out early" for a crisis too, found on
    # 2026-11-27 with a list of such idioms): short everyday plans with "I'm going to" are
    # missing from the everyday training data
    "I'm going to call it a day": Screening(Level.CRISIS, MODEL_CRISIS),
    "I'm going to bow out of the race": Screening(Level.CRISIS, MODEL_CRISIS),
    "I'm going to walk away from it all": Screening(Level.CRISIS, MODEL_CRISIS),
    "I'm going to drop out of the programme": Screening(Level.CRISIS, MODEL_CRISIS),
    "I'm going to check out early today": Screening(Level.CRISIS, MODEL_CRISIS),
    "I'm going to pack it in": Screening(Level.CRISIS, MODEL_CRISIS),
    "I'm going to cut them loose": Screening(Level.CRISIS, MODEL_CRISIS),
}


def _known_false_alarm(*values: Any) -> Any:
    if values[0] not in MODEL_FALSE_ALARMS:
        return values if len(values) > 1 else values[0]
    mark = pytest.mark.xfail(strict=True, reason="known false alarm of the model")
    return pytest.param(*values, marks=mark)


@pytest.mark.parametrize("text", [_known_false_alarm(t) for t in IDIOMS])
def test_idioms_and_ordinary_venting_do_not_fire(text: str) -> None:
    assert screen(text) == NONE, normalise(text)


@pytest.mark.parametrize("text", IDIOMS)
def test_the_rules_alone_stay_quiet_on_idioms(text: str) -> None:
    assert rules_only(text) == NONE, normalise(text)


# --- negation and reported speech: the documented judgment calls ------------------------------

JUDGMENT_CALLS = [
    # explicit denial: the topic came up, check in gently (DISTRESS), no alarm
    ("I'm not going to hurt myself, I'm just sad", Level.DISTRESS, "distress.denied_crisis"),
    ("I would never kill myself", Level.DISTRESS, "distress.denied_crisis"),
    ("I'm not suicidal", Level.DISTRESS, "distress.denied_crisis"),
    ("I don't want to die", Level.DISTRESS, "distress.denied_crisis"),
    # ... of harming others too (crisis.harm_anyone): angry people say it to reassure
    ("I don't want to hurt anyone", Level.DISTRESS, "distress.denied_crisis"),
    ("I'm not going to hurt anyone. I just need to vent", Level.DISTRESS, "distress.denied_crisis"),
    # a double negative is not a denial
    ("I can't not think about killing myself", Level.CRISIS, "crisis.suicide"),
    ("I'm trying not to hurt myself", Level.CRISIS, "crisis.self_harm"),
    # denial followed by an affirmation in another clause: the affirmation wins
    ("I don't want to die but I don't want to live either", Level.CRISIS, "crisis.want_to_die"),
    ("Not gonna lie, I want to die", Level.CRISIS, "crisis.want_to_die"),
    ("Not gonna lie I want to die", Level.CRISIS, "crisis.want_to_die"),
    # someone close: DISTRESS for the writer, who may need support and the helplines
    ("my friend said she wants to die", Level.DISTRESS, "distress.third_party"),
    ('my friend said "I want to die" and I froze', Level.DISTRESS, "distress.third_party"),
    ("my sister is thinking about suicide", Level.DISTRESS, "distress.third_party"),
    ("he wants to end it all", Level.DISTRESS, "distress.third_party"),
    ("my friend who lost her job and wants to die", Level.DISTRESS, "distress.third_party"),
    # strangers, characters, lyrics, the news: NONE
    ("people who commit suicide need support, not judgment", Level.NONE, None),
    ("in the movie she says she wants to die", Level.NONE, None),
    ('the song "I want to die" came on in the cafe', Level.NONE, None),
    # a stranger introduced by an indefinite ("a guy", "some woman") is not someone close
    ("a woman at the careers fair told me she wants to die", Level.NONE, None),
    ("some guy on the forum said he's suicidal", Level.NONE, None),
    # a relative clause about someone else is theirs ...
    ("I met a founder who went bust and wanted to die", Level.NONE, None),
    ("the guy in the movie wanted to die", Level.NONE, None),
    # ... unless its antecedent is the writer
    ("I'm the kind of person who wants to die after every no", Level.CRISIS, "crisis.want_to_die"),
    ("I'm someone who always wants to die after a rejection", Level.CRISIS, "crisis.want_to_die"),
    ("people like me who fail and want to die", Level.CRISIS, "crisis.want_to_die"),
    # the writer's own words, even when quoted or reported
    ('I keep thinking "I want to die"', Level.CRISIS, "crisis.want_to_die"),
    ("I told my therapist I want to die", Level.CRISIS, "crisis.want_to_die"),
    ('"I want to die," I said', Level.CRISIS, "crisis.want_to_die"),
    ("the recruiter said no and I want to kill myself", Level.CRISIS, "crisis.suicide"),
    # self-directed hyperbole is taken at its word
    ("I could kill myself for forgetting the deck lol", Level.CRISIS, "crisis.suicide"),
    ("I want to die lol", Level.CRISIS, "crisis.want_to_die"),
    # harm to others: plans, weapons and stated intentions are crisis; wishes and jokes are not
    ("I'm going to kill him", Level.CRISIS, "crisis.harm_others_intent"),
    ("I'm going to kill him lol he ate my lunch", Level.NONE, None),
    ("I'm bringing a gun to the office lol", Level.CRISIS, "crisis.harm_others_weapon"),
    ("I'll kill him if he's late again", Level.NONE, None),
    # "rather die than <X>" is an idiom; "rather be dead" is a statement unless it laughs
    ("I'd rather die than sing karaoke lol", Level.NONE, None),
    ("I'd rather die than tell my parents, and I mean that", Level.CRISIS, "crisis.passive_wish"),
    ("I'd rather be dead than face another rejection", Level.CRISIS, "crisis.rather_dead"),
    ("I'd rather be dead than wear a tie lol", Level.NONE, None),
    ("I could kill myself laughing", Level.NONE, None),
    # two signals, never one
    ("make him pay", Level.NONE, None),
    (
        "I'm going to make him pay. I know where he parks",
        Level.CRISIS,
        "crisis.harm_others_signals",
    ),
    ("I'm at peace with it", Level.NONE, None),
    ("rehomed the cat and I'm at peace with it", Level.CRISIS, "crisis.final_arrangements"),
    # a left-out thinker is the writer when nobody else is in the clause
    (
        "went to the viaduct and stood there thinking how easy it would be to go over",
        Level.CRISIS,
        "crisis.method_seeking",
    ),
    (
        "the guy in the film stood there thinking how easy it would be to go over",
        Level.NONE,
        None,
    ),
    # second-hand relations are acquaintances; family chains stay close
    ("my friend's cousin tried to kill himself", Level.NONE, None),
    ("my sister's husband tried to kill himself", Level.DISTRESS, "distress.third_party"),
    ("my brother's overdose still haunts me", Level.DISTRESS, "distress.third_party"),
    # "can't do this anymore" is distress; about life itself it is crisis
    ("I can't do this anymore", Level.DISTRESS, "distress.cant_cope"),
    ("I can't do life anymore", Level.CRISIS, "crisis.not_exist"),
]


@pytest.mark.parametrize(
    ("text", "level", "rule"), [_known_false_alarm(*call) for call in JUDGMENT_CALLS]
)
def test_negation_reported_speech_and_idiom_policy(
    text: str, level: Level, rule: str | None
) -> None:
    assert screen(text) == Screening(level, rule), normalise(text)


@pytest.mark.parametrize(("text", "level", "rule"), JUDGMENT_CALLS)
def test_the_rules_alone_keep_the_policy(text: str, level: Level, rule: str | None) -> None:
    assert rules_only(text) == Screening(level, rule), normalise(text)


def test_known_false_alarms_are_what_the_model_does() -> None:
    for text, verdict in MODEL_FALSE_ALARMS.items():
        assert rules_only(text) == NONE
        assert screen(text) == verdict, text


def test_crisis_beats_distress_in_the_same_message() -> None:
    text = "I'm a failure at everything and I want to kill myself"
    assert screen(text) == Screening(Level.CRISIS, "crisis.suicide")


def test_a_crisis_after_an_unrelated_denial_still_fires() -> None:
    text = "I'm not going to lie. Some days I think about ending it all."
    assert screen(text).level is Level.CRISIS


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("I'm", " im "),
        ("Don\u2019t", " dont "),
        ("su1c1de", " suicide "),
        ("k!ll", " kill "),
        ("$elf h@rm", " self harm "),
        ("k i l l", " kill "),
        ("s.u.i.c.i.d.e", " suicide "),
        ("diiiiie", " die "),
        ("shhhh", " shh "),
        ("ki\u200bll", " kill "),
        ("k\u0456ll", " kill "),  # Cyrillic i
        ("\uff2b\uff29\uff2c\uff2c", " kill "),
        ("café", " cafe "),
        ("self-harm", " self harm "),
        ("no. yes, maybe", " no . yes , maybe "),
        ('he said "hi"', ' he said " hi " '),
        ("u r a star", " you are a star "),  # single-letter words are not joined
        # masked words are read against normalise.sensitive_words
        ("s**cide", " suicide "),
        ("su*cidal", " suicidal "),
        ("k*ll myself", " kill myself "),
        ("d#e", " die "),
        ("#suicide", " suicide "),  # a hashtag is not a mask
        ("f*ck", " f ck "),  # not a sensitive word: left alone
        ("k*i*l*l", " kill "),  # single letters: joined like "k.i.l.l"
        # a sensitive word split in two is joined; "my self esteem" stays as it is
        ("sui cide", " suicide "),
        ("over dose", " overdose "),
        ("my self esteem", " my self esteem "),
        # swapped letters and dropped g
        ("I wnat to", " i want to "),
        ("thinkin about killin", " thinking about killing "),
        ("life's hard", " life is hard "),
        ("want 2 go", " want to go "),
        ("  lots   of\tspace \n", " lots of space . "),
        ("", " "),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_normalise_gives_canonical_tokens_for_any_text(text: str) -> None:
    norm = normalise(text)
    assert norm.isascii()
    assert norm.startswith(" ")
    assert norm.endswith(" ")
    assert "  " not in norm or norm == " "
    assert all(tok.isalnum() or tok in {".", ",", '"'} for tok in norm.split())
    assert norm == norm.lower()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("kilmysefdwant o.,'\"!1i3@$ \u200b")), max_size=300))
def test_screen_returns_a_verdict_for_any_text(text: str) -> None:
    result = screen(text)
    assert isinstance(result, Screening)
    assert (result.rule is None) == (result.level is Level.NONE)
    if result.rule is not None:
        assert LEVEL_OF[result.rule] is result.level


# --- the module's contract --------------------------------------------------------------------


def test_screening_and_level_types() -> None:
    result = screen("I want to die")
    assert result == Screening(Level.CRISIS, "crisis.want_to_die")
    assert result.level == "crisis"
    assert isinstance(result.level, str)
    assert [lv.severity for lv in (Level.NONE, Level.DISTRESS, Level.CRISIS)] == [0, 1, 2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.level = Level.NONE  # type: ignore[misc]
    assert not hasattr(result, "__dict__")  # slots


def test_screen_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        screen(None)  # type: ignore[arg-type]


def test_screen_is_pure_and_repeatable() -> None:
    text = "I'm a failure at everything"
    assert {screen(text) for _ in range(5)} == {Screening(Level.DISTRESS, "distress.worthless")}


def test_screen_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    # `import bot.safety.screen` would give the screen() function re-exported by the package.
    screen_module = importlib.import_module("bot.safety.screen")
    helplines_module = importlib.import_module("bot.safety.helplines")
    model_module = importlib.import_module("bot.safety.model")

    caplog.set_level(0)
    screen("I want to kill myself")
    screen("this job hunt is killing me")
    assert caplog.records == []
    for module in (screen_module, helplines_module, model_module):
        assert "logging" not in vars(module)
        assert "print(" not in Path(module.__file__).read_text(encoding="utf-8")


def test_safety_package_imports_no_database_or_platform_sdk() -> None:
    code = (
        "import sys, bot.safety\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'sqlite3', 'discord', 'slack_bolt', 'slack_sdk', 'psycopg', 'logging',"
        " 'sklearn', 'numpy'}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_a_crisis_deep_in_a_long_message_is_found() -> None:
    filler = "The interview process was long and the feedback was vague, as usual. " * 30
    text = filler + "Honestly I just want to die. " + filler
    assert len(text) > 4000
    assert screen(text[:4000].rsplit(" ", 1)[0] + " I want to die").level is Level.CRISIS
    assert screen(text).level is Level.CRISIS
    assert screen(filler * 2) == NONE


# --- rule-file validation: a broken rules file fails at start-up, naming the rule ------------


def _broken(mutate: Any) -> dict[str, Any]:
    data = copy.deepcopy(RAW_RULES)
    mutate(data)
    return data


def _rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def test_the_shipped_rules_file_loads() -> None:
    reloaded = load_rules(copy.deepcopy(RAW_RULES))
    assert [r.id for r in reloaded.rules] == [r.id for r in RULES]
    assert reloaded.screen("kms") == Screening(Level.CRISIS, "crisis.slang")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _rule(d, "crisis.slang")["patterns"].append("(unclosed"), "crisis.slang"),
        (lambda d: _rule(d, "crisis.end_it")["patterns"].append("{NO_SUCH_MACRO}"), "NO_SUCH"),
        (lambda d: _rule(d, "crisis.method").update(level="urgent"), "crisis.method"),
        (lambda d: _rule(d, "distress.hopeless").pop("description"), "distress.hopeless"),
        (lambda d: _rule(d, "crisis.suicide").update(pattern=["x"]), "crisis.suicide"),
        (lambda d: _rule(d, "crisis.indirect").update(patterns=[]), "crisis.indirect"),
        (lambda d: _rule(d, "crisis.indirect").update(patterns=[""]), "crisis.indirect"),
        (lambda d: _rule(d, "crisis.self_harm").update(patterns=["(?:x)?"]), "crisis.self_harm"),
        (lambda d: _rule(d, "crisis.self_harm").update(negatable="yes"), "crisis.self_harm"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "crisis.suicide"),
        (lambda d: d["rules"].append({"id": "Bad Id", "level": "crisis"}), "Bad Id"),
        (
            lambda d: _rule(d, "distress.denied_crisis").update(patterns=["x"]),
            "distress.denied_crisis",
        ),
        (lambda d: _rule(d, "crisis.slang").update(derived="third_party_crisis"), "crisis.slang"),
        (lambda d: _rule(d, "crisis.slang").update(examples=["kms"]), "crisis.slang"),
        (lambda d: d.update(extra=1), "top level"),
        (lambda d: d["macros"].update(LOOP="{LOOP}x"), "LOOP"),
        (lambda d: d["context"].pop("negation_cues"), "negation_cues"),
        (lambda d: d["context"].pop("stranger_words"), "stranger_words"),
        (lambda d: d["context"].pop("thought_verbs"), "thought_verbs"),
        (lambda d: _rule(d, "crisis.farewell").update(quiet_near=["(unclosed"]), "crisis.farewell"),
        (lambda d: _rule(d, "crisis.farewell").update(quiet_near=["(?:x)?"]), "crisis.farewell"),
        (lambda d: _rule(d, "crisis.farewell").update(quiet_near="slack"), "crisis.farewell"),
        (lambda d: d["normalise"].update(spelling={}), "normalise"),
        (lambda d: d["normalise"].update(typo_swaps=["Want"]), "typo_swaps"),
        (lambda d: d["normalise"].update(sensitive_words=["s*icide"]), "sensitive_words"),
        (lambda d: _rule(d, "crisis.not_exist").update(needs=["two words"]), "crisis.not_exist"),
        (lambda d: _rule(d, "crisis.not_exist").update(needs=[]), "crisis.not_exist"),
        (lambda d: _rule(d, "crisis.not_exist").update(needs="life"), "crisis.not_exist"),
        (
            lambda d: _rule(d, "distress.denied_crisis").update(needs=["x"]),
            "distress.denied_crisis",
        ),
    ],
)
def test_malformed_rules_fail_loudly_naming_the_rule(mutate: Any, message: str) -> None:
    with pytest.raises(ValueError, match=r"rules\.yaml") as excinfo:
        load_rules(_broken(mutate))
    assert message in str(excinfo.value)


def test_non_mapping_rules_file_is_rejected() -> None:
    with pytest.raises(ValueError, match="top level"):
        load_rules(["not", "a", "mapping"])


# --- speed: printed as a benchmark, never asserted (CI machines vary) -------------------------

ADVERSARIAL = {
    "repeated single letters": ("a " * 2000)[:4000],
    "repeated pronoun": ("i " * 2000)[:4000],
    "stacked negations": ("not never dont " * 300)[:4000],
    "repeated denials": ("i would never kill myself " * 200)[:4000],
    "only quotes": '"' * 4000,
    "quoted reports": ('" i want to die " said he ' * 200)[:4000],
    "one long word": "k" * 4000,
    "leet soup": "k1" * 2000,
    "softeners": ("i just really honestly so " * 200)[:4000],
    "intent chain": ("want to " * 600)[:4000],
    "relations": ("my friend said that " * 250)[:4000],
    "punctuation": ". , " * 1000,
    "spaced letters": " ".join("killmyself" * 40)[:4000],
    "emoji": "😂" * 4000,
    "invisible": "\u200b" * 4000,
    "masked words": ("s*i*c*i*d*e*a " * 300)[:4000],
    "mask-only words": ("*#" * 2000)[:4000],
    "split words": ("sui cide " * 450)[:4000],
    "gap anchors": ("looking at the bridge letters garage " * 120)[:4000],
    "relative clauses": ("a guy who went and " * 220)[:4000],
    "revenge lines": ("make him pay " * 400)[:4000],
    "arrangements": ("passwords for after im at peace " * 200)[:4000],
    "framed means": ("keep imagining stepping onto " * 200)[:4000],
    "final calm": ("its time . im ready to go " * 200)[:4000],
}


def _per_call_us(text: str, runs: int) -> float:
    """This thread's CPU time per call: time spent waiting for a core another process holds
    does not count (wall-clock time made the linearity test below fail once, run niced beside
    a two-thread training)."""
    screen(text)
    start = time.thread_time()
    for _ in range(runs):
        screen(text)
    return (time.thread_time() - start) / runs * 1e6


def test_benchmark_prints_timings(capsys: pytest.CaptureFixture[str]) -> None:
    typical = (
        "Got another rejection today after the final round; "
        "honestly I feel flat about it. Onwards, I guess."
    )
    story = (typical + " ") * 40
    rows = [
        (f"typical message ({len(typical)} chars)", _per_call_us(typical, 500)),
        ("long message (4000 chars)", _per_call_us(story[:4000], 20)),
    ]
    rows += [(f"adversarial: {k}", _per_call_us(v, 3)) for k, v in ADVERSARIAL.items()]
    with capsys.disabled():
        print("\nbot.safety.screen timings (CPU microseconds per call):")
        for label, us in rows:
            print(f"  {label:40} {us:10.1f}")
    # No timing assertion: only that every input was screened to completion.
    assert all(us > 0 for _, us in rows)


def test_screening_stays_linear_on_new_rule_families() -> None:
    """Rules with bounded gaps ("letters ... where they'll find them") and the masked-word
    reader must not go quadratic. Sixteen times the text takes about sixteen times as long when
    matching is linear and 256 times when it is quadratic; the bound sits four times from both,
    so that a busy machine does not make the test flaky (the minimum of several runs is used;
    with eight times the text and a bound of 24 it once failed while two trainings ran).
    """
    for unit in (
        "letters where ",
        "a guy who went and ",
        "s*i*c*i*d*e*a ",
        "im a burden ",
        "make him pay ",
        "passwords for after ",
        "keep imagining stepping onto ",
        "stood there thinking ",
    ):
        short, long = (unit * 100)[:1000], (unit * 1600)[:16000]
        t_short = min(_per_call_us(short, 2) for _ in range(5))
        t_long = min(_per_call_us(long, 2) for _ in range(5))
        assert t_long < t_short * 64, (unit, t_short, t_long)
