"""The learned second opinion (bot/safety/model.py) and how screen() combines it with the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import Level, Screening, screen
from bot.safety.model import MODEL_PATH, Model, Scores, Thresholds, features
from bot.safety.screen import (
    MODEL_CRISIS,
    MODEL_DISTRESS,
    decide,
    judge,
    model,
    normalise,
    rules_only,
)
from tests.safety.scripts import bench_script

SHIPPED = json.loads(MODEL_PATH.read_text(encoding="utf-8"))


# --- what the model adds ----------------------------------------------------------------------

# Crisis wordings no rule was written for, and in no training file (checked below): the rules
# alone do not call any of them a crisis.
NEW_WORDINGS = [
    "third no this month. sorted out who gets my records and wrote the kids a letter each. this"
    " weekend is the last one",
    "told the landlord i wont need the flat after friday. not moving. just done with all of it,"
    " with me",
    "gave my bike and my guitar away today. wont be needing them where im headed after this"
    " rejection",
]


@pytest.mark.parametrize("text", NEW_WORDINGS)
def test_the_model_catches_crisis_wordings_the_rules_miss(text: str) -> None:
    assert rules_only(text).level is not Level.CRISIS
    assert screen(text) == Screening(Level.CRISIS, MODEL_CRISIS)


def test_those_wordings_are_not_training_data() -> None:
    train = bench_script("safety_train")
    trained = {normalise(t) for part in train.sources().values() for _, t in part}
    assert not [t for t in NEW_WORDINGS if normalise(t) in trained]


@pytest.mark.parametrize(
    "text",
    [
        # The film's line is set aside; the writer's own plan in the next sentence is not.
        "the song goes 'I want to die'. ive picked sunday, i know a quiet spot nobody goes and"
        " nobody will stop me",
        "in the film he says he wants to die. no point sticking around for another year of"
        " rejections. going to end it before my birthday in march",
    ],
)
def test_a_set_aside_quote_does_not_hide_the_rest_of_the_message(text: str) -> None:
    assert rules_only(text).level is Level.NONE
    assert screen(text) == Screening(Level.CRISIS, MODEL_CRISIS)


@pytest.mark.parametrize("text", ["goodbye", "Goodbye!", "I'm done", "bye for now"])
def test_a_message_of_three_words_or_fewer_is_never_a_crisis_on_the_model_alone(
    text: str,
) -> None:
    assert screen(text).level is not Level.CRISIS


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("kilmysefdwantogbhr o.,'\"!1")), max_size=200))
def test_the_model_never_lowers_what_the_rules_said(text: str) -> None:
    assert screen(text).level.severity >= rules_only(text).level.severity


@pytest.mark.parametrize(
    "text",
    [
        # A denial anywhere settles the message, even when a distress rule names the verdict
        # and the model alone would call it a crisis.
        "I won't kill myself, what's the point of anything",
        "I'm not going to hurt myself, I'm just really sad",
        "my brother tried to kill himself last year and I got fired today",  # someone close
        'the character screams "I want to die" and the scene cuts',  # a film, nothing else
    ],
)
def test_the_model_does_not_overrule_a_close_reading_by_the_rules(text: str) -> None:
    assert screen(text) == rules_only(text)


def test_the_rules_settle_a_denial_the_model_would_have_taken_for_a_crisis() -> None:
    text = "i promise i wont kill myself tonight"
    verdict, rest = judge(text)
    assert verdict.rule == "distress.denied_crisis" and rest is None
    assert model().scores(normalise(text)).crisis >= model().thresholds.crisis


def test_decide_raises_the_verdict_by_the_thresholds() -> None:
    th = Thresholds(crisis=0.8, crisis_short=0.9, distress=0.6)
    none = Screening(Level.NONE, None)
    rule = Screening(Level.DISTRESS, "distress.hopeless")
    crisis = Screening(Level.CRISIS, MODEL_CRISIS)
    assert decide(none, Scores(0.85, 0.1, 0.05, 12), th) == crisis
    assert decide(rule, Scores(0.85, 0.1, 0.05, 12), th) == crisis
    assert decide(none, Scores(0.85, 0.1, 0.05, 5), th) == none  # short: needs 0.9
    assert decide(none, Scores(0.92, 0.05, 0.03, 5), th) == crisis
    assert decide(none, Scores(0.3, 0.65, 0.05, 12), th) == Screening(
        Level.DISTRESS, MODEL_DISTRESS
    )
    assert decide(rule, Scores(0.3, 0.65, 0.05, 12), th) == rule  # the rule's own name stays
    assert decide(none, Scores(0.79, 0.2, 0.01, 12), th) == none
    assert decide(none, Scores(0.1, 0.59, 0.31, 12), th) == none


# --- the scorer ---------------------------------------------------------------------------------


def test_features_are_words_and_pairs_that_never_cross_punctuation() -> None:
    got = features(normalise("I can't. Not again, not again, want to go"))
    assert got == {
        "i": 1,
        "cant": 1,
        "i cant": 1,
        "not": 2,
        "again": 2,
        "not again": 2,
        "want": 1,
        "to": 1,
        "go": 1,
        "want to": 1,
        "to go": 1,
        "want * go": 1,
    }


def test_scores_are_probabilities() -> None:
    model = Model.load()
    for text in ("", "hi", "I want to disappear for good", "x " * 3000):
        s = model.scores(normalise(text))
        assert min(s.crisis, s.distress, s.none) >= 0
        assert abs(s.crisis + s.distress + s.none - 1) < 1e-9


def test_pure_python_scores_match_scikit_learn() -> None:
    """The bot's scorer reproduces the trained classifier (weights rounded to 5 places)."""
    pytest.importorskip("sklearn")
    train = bench_script("safety_train")
    rows = [row for part in train.sources().values() for row in part]
    vec, tfidf, clf = train.fit(rows[::4], c=10.0)  # a quarter of the data keeps this quick
    model = Model(
        train.export(vec, tfidf, clf, {"crisis": 0.5, "crisis_short": 0.5, "distress": 0.5}, "test")
    )
    texts = [text for _, text in rows[1::40]]
    expected = clf.predict_proba(
        tfidf.transform(vec.transform([features(normalise(t)) for t in texts]))
    )
    for text, want in zip(texts, expected, strict=True):
        got = model.scores(normalise(text))
        assert (got.crisis, got.distress, got.none) == pytest.approx(tuple(want), abs=1e-3)


def test_the_shipped_model_was_trained_on_the_data_in_the_repository() -> None:
    """Changing the training data, the normalisation or the features without retraining fails."""
    train = bench_script("safety_train")
    assert SHIPPED["trained_on"] == train.fingerprint(train.sources(), c=train.DEFAULT_C), (
        "bot/safety/model.json is out of date: run .venv/bin/python bench/safety_train.py"
    )


def test_training_never_reads_a_test_set() -> None:
    train = bench_script("safety_train")
    names = [path.name for path in train.training_files()]
    assert names and not [n for n in names if n.startswith("safety_test")]


# --- a broken model file fails at start-up, saying what to do ----------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=99), "not a safety model file"),
        (lambda d: d.pop("thresholds"), "not a safety model file"),
        (lambda d: d["features"].update(bad=["x", 1, 2, 3]), "not a safety model file"),
        (lambda d: d.update(features={}), "empty or malformed"),
    ],
)
def test_a_broken_model_file_is_refused_with_the_fix(mutate, message: str) -> None:
    data = json.loads(json.dumps(SHIPPED))
    mutate(data)
    with pytest.raises(ValueError, match=message) as err:
        Model(data)
    assert "safety_train.py" in str(err.value) or "rebuild" in str(err.value)


def test_an_unreadable_model_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "model.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"model\.json: not valid JSON"):
        Model.load(broken)
    with pytest.raises(ValueError, match="cannot read"):
        Model.load(tmp_path / "missing.json")


def test_rebound_check_fails_fast_on_a_broken_model_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli
    from bot.safety import model as model_module
    from bot.safety.screen import model

    broken = tmp_path / "model.json"
    broken.write_text('{"format": 1}', encoding="utf-8")
    try:
        with monkeypatch.context() as patch:
            patch.setattr(model_module, "MODEL_PATH", broken)
            model.cache_clear()
            assert cli.main(["check"]) == 2
        err = capsys.readouterr().err
        assert "model.json: not a safety model file" in err and "safety_train.py" in err
    finally:
        model.cache_clear()  # later calls load the shipped file again
    assert cli.main(["check"]) == 0
    assert "safety model ok" in capsys.readouterr().out


def test_the_by_source_report_ranks_sources_and_says_where_crisis_is_missed() -> None:
    train = bench_script("safety_train")

    def scored(source: str, crisis: float, words: int = 8, label: str = "crisis") -> object:
        none = Screening(Level.NONE, None)
        return train.Scored(source, label, none, True, Scores(crisis, 0.0, 1 - crisis, words))

    denied = Screening(Level.DISTRESS, "distress.denied_crisis")
    report = train.by_source(
        [
            scored("writer_a", 0.9),
            scored("writer_a", 0.5),  # missed, in the reader's band
            scored("writer_a", 0.1),  # missed, below it
            train.Scored("writer_a", "crisis", denied, False, Scores(0.9, 0.0, 0.1, 8)),
            scored("writer_b", 0.9),
            scored("writer_b", 0.95),
            scored("writer_b", 0.99, words=2),  # too short for the model alone
            scored("writer_b", 0.99, label="none"),  # not a crisis message: not counted
        ],
        Thresholds(0.7, 0.8, 0.9),
        0.4,
    )
    lines = report.splitlines()
    assert lines[1].split() == ["writer_a", "1/4", "0.250"]
    assert lines[2].split() == ["writer_b", "2/3", "0.667"]
    for where in (
        "settled below crisis by the rules (distress.denied_crisis)",
        "3 words or fewer",
        "linear crisis score under 0.4 (the reader is never asked)",
        "linear crisis score from 0.4 (the reader is asked)",
    ):
        assert f"1  {where}" in [line.strip() for line in lines]
