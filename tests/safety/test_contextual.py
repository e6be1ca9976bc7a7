"""The contextual reader (bot/safety/contextual.py) and how screen_with() asks it."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from pathlib import Path

import pytest

from bot.app import load_screen, screen_off_loop
from bot.config import ConfigError, load_settings
from bot.safety import Level, Screening, screen
from bot.safety import contextual as ctx
from bot.safety.contextual import Band, ContextualModel, Reading
from bot.safety.model import MODEL_PATH
from bot.safety.screen import (
    CONTEXTUAL_CRISIS,
    MODEL_CRISIS,
    decide,
    model,
    normalise,
    rules_only,
    screen_with,
    second_look,
)
from tests.adapters.test_terminal_cli import lines_of, run
from tests.safety.scripts import bench_script
from tests.safety.test_screen import IDIOMS, JUDGMENT_CALLS, MODEL_FALSE_ALARMS


class FakeReader:
    """A reader whose answer the test sets, and which records what it was asked."""

    def __init__(self, answer: float, band: Band | None = None) -> None:
        self.answer = answer
        self.band = band or Band(0.0, 0.5, 0.0, 0.5)  # linear 0: model.json's threshold stands
        self.asked: list[str] = []

    def read(self, norm: str) -> Reading:
        self.asked.append(norm)
        return Reading(self.answer, whole=True)


def _scores(text: str):
    return model().scores(normalise(text))


# --- when the reader is asked, and what it may change ------------------------------------------


def test_the_rules_settle_a_message_without_asking_the_reader() -> None:
    reader = FakeReader(0.0)
    verdict = screen_with(reader)("i want to kill myself")  # type: ignore[arg-type]
    assert verdict.level is Level.CRISIS and verdict.rule != CONTEXTUAL_CRISIS
    assert reader.asked == []


def test_the_reader_can_raise_a_message_to_crisis_and_reads_it_normalised() -> None:
    text = "Sorted out my desk and wrote a note for the dog walker today"
    assert screen(text).level is Level.NONE
    reader = FakeReader(0.99)
    assert screen_with(reader)(text) == Screening(Level.CRISIS, CONTEXTUAL_CRISIS)  # type: ignore[arg-type]
    assert reader.asked == [normalise(text)]


def test_the_reader_never_lowers_a_verdict_unless_handed_the_linear_models_call() -> None:
    text = "third no this month. sorted out who gets my records and wrote the kids a letter each."
    text += " this weekend is the last one"
    assert screen(text) == Screening(Level.CRISIS, MODEL_CRISIS)
    reader = FakeReader(0.0)
    assert screen_with(reader)(text) == Screening(Level.CRISIS, MODEL_CRISIS)  # type: ignore[arg-type]
    assert reader.asked == []  # already a crisis: nothing to ask
    # Band.linear above the model's score hands the message to the reader, which decides.
    raised = Band(0.0, 0.5, _scores(text).crisis + 0.01, 0.5)
    assert screen_with(FakeReader(0.0, raised))(text).level is Level.NONE  # type: ignore[arg-type]
    assert screen_with(FakeReader(0.9, raised))(text).rule == CONTEXTUAL_CRISIS  # type: ignore[arg-type]
    distress = "i feel completely worthless and i cant cope with any of this anymore"
    assert screen(distress).level is Level.DISTRESS
    assert screen_with(FakeReader(0.0))(distress) == screen(distress)  # type: ignore[arg-type]


def test_the_reader_is_not_asked_about_a_few_words_or_below_its_band() -> None:
    reader = FakeReader(1.0)
    assert screen_with(reader)("goodbye everyone").level is Level.NONE  # type: ignore[arg-type]
    text = "had a lovely walk with the dog and then made pasta for dinner"
    high = FakeReader(1.0, Band(_scores(text).crisis + 0.01, 0.5, 0.0, 0.5))
    assert screen_with(high)(text).level is Level.NONE  # type: ignore[arg-type]
    assert reader.asked == [] and high.asked == []


@pytest.mark.parametrize(
    ("decided", "crisis", "words", "answer", "whole", "expected"),
    [
        (Level.NONE, 0.30, 6, 0.90, True, Level.CRISIS),  # in the band, reader sure
        (Level.NONE, 0.30, 6, 0.89, True, Level.NONE),  # in the band, reader not sure enough
        (Level.DISTRESS, 0.30, 6, 0.95, True, Level.CRISIS),
        (Level.DISTRESS, 0.30, 6, 0.10, True, Level.DISTRESS),
        (Level.NONE, 0.19, 6, 1.00, True, Level.NONE),  # below the band: not asked
        (Level.NONE, 0.50, 3, 1.00, True, Level.NONE),  # three words: not asked
        # Handed the word model's own call (0.75 <= 0.80 < Band.linear): a message that fits
        # is the reader's to decide, against its lower confirm threshold; a longer one keeps
        # the word model's call.
        (Level.NONE, 0.80, 30, 0.10, True, Level.NONE),
        (Level.NONE, 0.80, 30, 0.60, True, Level.CRISIS),  # confirmed
        (Level.NONE, 0.80, 30, 0.59, True, Level.NONE),
        (Level.NONE, 0.30, 6, 0.60, True, Level.NONE),  # not the word model's call: 0.9 needed
        (Level.NONE, 0.80, 300, 0.10, False, Level.CRISIS),
    ],
)
def test_second_look(decided, crisis, words, answer, whole, expected) -> None:
    from bot.safety.model import Scores

    scores = Scores(crisis, 0.0, 1 - crisis, words)
    alone = decide(Screening(decided, None), scores, model().thresholds)
    asked = []
    verdict = second_look(
        Screening(decided, None if decided is Level.NONE else "rule"),
        alone,
        scores,
        Band(0.2, 0.9, 0.9, 0.6),
        lambda: asked.append(1) or Reading(answer, whole),
    )
    assert verdict.level is expected
    assert bool(asked) == (crisis >= 0.2 and words > 3)


# --- the shipped reader --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader() -> ContextualModel:
    return ContextualModel()


def test_the_shipped_reader_loads_with_thresholds_from_its_training(reader) -> None:
    config = json.loads(ctx.CONFIG_FILE.read_text(encoding="utf-8"))
    keys = ("band", "crisis", "linear", "confirm")
    assert reader.band == Band(*(config[key] for key in keys))
    assert 0 < reader.band.low < model().thresholds.crisis <= reader.band.linear <= 1
    assert 0 <= reader.band.confirm < reader.band.crisis < 1  # keeping a crisis call needs less


def test_the_shipped_reader_tells_a_goodbye_from_an_idiom(reader) -> None:
    goodbye = "gave away my guitar and wrote letters to my sisters, i wont be around after sunday"
    idioms = [
        "this job hunt is killing me but im going again tomorrow",
        "wrote a note for the dog walker and picked a date to stop applying for a week",
        "i nearly died of embarrassment when my pitch died in the room",
    ]
    assert reader.read(normalise(goodbye)) == ctx.Reading(pytest.approx(1, abs=0.1), True)
    for text in idioms:
        assert reader.read(normalise(text)).crisis < 0.1, text


# What the screen does with the reader on (the default) to the idioms and the judgment calls the
# word model alone must get right: its false alarms that the reader does not overrule stay. The
# reader's own two from the retrain before (it took "I shot myself in the foot with that answer"
# and "I know where he parks, I'll ask him to move his car" for a crisis) are gone since the
# retrain with three epochs and the everyday files. Since the retrain with author_44 to 47 it
# keeps the word model's new one, "I'm going to cut my losses" (it reads 0.729; keeping a crisis
# call needs 0.25, raising one 0.73).
READER_FALSE_ALARMS = {
    text: MODEL_FALSE_ALARMS[text]
    for text in (
        "I'm going to burn myself out",
        "This rejection hurts so much",
        "I got laid off and I'm worried about money",
        # quitting plans (tests/safety/test_screen.py) the word model scores 0.96 and over, where
        # it decides alone and the reader is not asked
        "I'm going to bow out of the race",
        "I'm going to pack it in",
        "I'm going to cut them loose",
    )
} | {
    text: Screening(Level.CRISIS, CONTEXTUAL_CRISIS)
    for text in (
        "I'm going to cut my losses",
        # quitting plans: one the reader keeps, two it raises though the word model passes them
        "I'm going to walk away from it all",
        "I'm going to let it go",
        "I'm going to take the hit",
    )
}


@pytest.mark.parametrize("text", IDIOMS)
def test_with_the_reader_on_idioms_and_ordinary_venting_do_not_fire(reader, text: str) -> None:
    expected = READER_FALSE_ALARMS.get(text, Screening(Level.NONE, None))
    assert screen_with(reader)(text) == expected, normalise(text)


@pytest.mark.parametrize(("text", "level", "rule"), JUDGMENT_CALLS)
def test_with_the_reader_on_the_judgment_calls_hold(
    reader, text: str, level: Level, rule: str | None
) -> None:
    expected = READER_FALSE_ALARMS.get(text, Screening(level, rule))
    assert screen_with(reader)(text) == expected, normalise(text)


def test_a_long_message_is_read_whole_in_windows(reader) -> None:
    goodbye = (
        " gave away my guitar and wrote letters to my sisters , i wont be around after sunday ."
    )
    long = " the interview went fine and then they said no ." * 60 + goodbye
    batch, whole = ctx.windows(reader._tokenizer, long)
    assert not whole and len(batch) > 5 and {len(ids) for ids in batch} == {ctx.MAX_TOKENS}
    assert reader.read(long).crisis > 0.9  # the goodbye sits in the last window only
    assert reader.read(long[: len(long) - len(goodbye)]).crisis < reader.band.crisis


def test_with_the_reader_on_a_long_message_never_loses_the_word_models_crisis_call(
    reader,
) -> None:
    """A long message's crisis past the first window: the reader's thresholds were chosen on
    messages that fit, so the word model's own call stands for longer ones."""
    filler = "work was busy, the meeting ran long, then i went to the shop and came home. "
    cores = [
        "sorted out who gets my records and wrote the kids a letter each. the weekend is the last.",
        "i have written the notes and given the cat away, after friday nobody has to deal with me.",
    ]
    checked = 0
    for core in cores:
        for fillers in range(3, 8):
            for copies in range(1, 5):
                text = filler * fillers + core * copies
                if screen(text).level is Level.CRISIS:
                    checked += 1
                    assert screen_with(reader)(text).level is Level.CRISIS, (fillers, copies)
    assert checked


# --- start-up ------------------------------------------------------------------------------------


def test_start_up_stops_when_the_reader_is_on_and_a_file_is_missing(tmp_path: Path) -> None:
    for source in (ctx.CONFIG_FILE, ctx.TOKENIZER_FILE):
        shutil.copy(source, tmp_path / source.name)
    with pytest.raises(
        ValueError,
        match=r"contextual\.onnx missing; .*safety_train_contextual.*CONTEXTUAL=false",
    ):
        ContextualModel(tmp_path)
    (tmp_path / ctx.MODEL_FILE.name).write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"contextual\.onnx: not a model this reader can run"):
        ContextualModel(tmp_path)


def test_start_up_names_a_damaged_tokenizer_file(tmp_path: Path) -> None:
    for source in (ctx.CONFIG_FILE, ctx.MODEL_FILE):
        (tmp_path / source.name).symlink_to(source)
    (tmp_path / ctx.TOKENIZER_FILE.name).write_text("{}")
    with pytest.raises(ValueError, match=r"contextual_tokenizer\.json: not a tokenizer file"):
        ContextualModel(tmp_path)


def test_start_up_stops_on_a_config_this_version_cannot_read(tmp_path: Path) -> None:
    for source in (ctx.MODEL_FILE, ctx.TOKENIZER_FILE):
        (tmp_path / source.name).symlink_to(source)
    config = json.loads(ctx.CONFIG_FILE.read_text(encoding="utf-8"))
    (tmp_path / ctx.CONFIG_FILE.name).write_text(json.dumps({**config, "crisis": 1.5}))
    with pytest.raises(ValueError, match=r"1\.5 is not a probability"):
        ContextualModel(tmp_path)
    del config["confirm"]  # a config from before the confirm threshold
    (tmp_path / ctx.CONFIG_FILE.name).write_text(json.dumps({**config, "format": 1}))
    with pytest.raises(ValueError, match=r"format 1, this version reads 2\); reinstall"):
        ContextualModel(tmp_path)


def test_the_setting_chooses_the_screen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("REBOUND_SAFETY_CONTEXTUAL", raising=False)
    on = load_screen(load_settings())  # on by default
    assert on is not screen
    assert asyncio.run(on("i want to kill myself")) == screen("i want to kill myself")  # type: ignore[arg-type]
    monkeypatch.setattr(ctx, "MODEL_FILE", tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match="contextual"):
        load_screen(load_settings())
    monkeypatch.setenv("REBOUND_SAFETY_CONTEXTUAL", "false")
    assert load_screen(load_settings()) is screen


def test_rebound_check_says_whether_the_reader_is_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import cli

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("REBOUND_SAFETY_CONTEXTUAL", raising=False)
    assert cli.main(["check"]) == 0
    assert "contextual reader ok" in capsys.readouterr().out
    monkeypatch.setenv("REBOUND_SAFETY_CONTEXTUAL", "false")
    assert cli.main(["check"]) == 0
    assert "contextual reader off" in capsys.readouterr().out


class BlockingReader(FakeReader):
    """A reader that holds its read until the test lets it go (or 5 s pass)."""

    def __init__(self) -> None:
        super().__init__(1.0)
        self.started, self.go = threading.Event(), threading.Event()
        self.let_go_in_time: bool | None = None

    def read(self, norm: str) -> Reading:
        self.started.set()
        self.let_go_in_time = self.go.wait(timeout=5)
        return super().read(norm)


async def test_a_server_reads_off_the_event_loop() -> None:
    """While the reader reads one message (a long one takes many windows), the event loop
    serves everyone else: here it is the loop itself that lets the read finish."""
    reader = BlockingReader()
    message = "Sorted out my desk and wrote a note for the dog walker today"
    reading = asyncio.create_task(screen_off_loop(reader)(message))  # type: ignore[arg-type]
    assert await asyncio.to_thread(reader.started.wait, 5)
    reader.go.set()  # only possible while the read waits if the loop is free
    assert await reading == Screening(Level.CRISIS, CONTEXTUAL_CRISIS)
    assert reader.let_go_in_time is True
    # a message the reader is not asked about never leaves the loop
    assert await screen_off_loop(reader)("i want to kill myself") == screen("i want to kill myself")  # type: ignore[arg-type]


class FailingReader(FakeReader):
    def read(self, norm: str) -> Reading:
        super().read(norm)
        raise RuntimeError(f"the session could not run on {norm!r}")


async def test_when_the_reader_fails_the_word_model_decides_and_the_log_keeps_no_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reader = FailingReader(1.0)
    message = "Sorted out my desk and wrote a note for the dog walker today"
    assert await screen_off_loop(reader)(message) == screen(message)  # type: ignore[arg-type]
    assert reader.asked, "the reader was asked and failed"
    assert "contextual reader failed (RuntimeError)" in caplog.text
    assert "dog walker" not in caplog.text


def test_the_reader_never_overrules_a_rule() -> None:
    """Across the rules' own examples: a crisis rule's call is never put to the reader, and a
    reader that never says crisis leaves every rule's verdict where it was."""
    from bot.safety.screen import rules

    never = FakeReader(0.0, Band(0.0, 0.5, 1.0, 0.5))  # every open message handed to the reader
    for rule in rules():
        for text in rule.fires:
            verdict = rules_only(text)
            if verdict.level is Level.CRISIS:
                always = FakeReader(1.0)
                assert screen_with(always)(text) == screen(text)  # type: ignore[arg-type]
                assert always.asked == [], text
            else:
                assert screen_with(never)(text).level is verdict.level, text  # type: ignore[arg-type]


def test_the_shipped_reader_was_trained_on_the_data_in_the_repository() -> None:
    """The reader's data fingerprint is the linear model's (tests/safety/test_model.py checks
    that one against the data): new training data without a retrain of both fails here."""
    config = json.loads(ctx.CONFIG_FILE.read_text(encoding="utf-8"))
    shipped = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert config["trained_on"] == shipped["trained_on"], (
        "bot/safety/contextual.json is out of date: run bench/safety_train_contextual.py"
    )


# --- what a user sees ----------------------------------------------------------------------------

# Preparation said plainly, in words neither a rule nor the word model takes for one (a letter
# left with a pet handed on for good, with no word of an ending).
PLAIN_PREPARATION = "they said no. left my sister a letter and the cat, she keeps both for good"


def _chat(tmp_path: Path, contextual: bool) -> list[dict]:
    tmp_path.mkdir()
    lines = [{"user": "u1", "text": "hello"}, {"user": "u1", "text": PLAIN_PREPARATION}]
    env = {"REBOUND_SAFETY_CONTEXTUAL": "true" if contextual else "false"}
    result = run(tmp_path, [json.dumps(line) for line in lines], "--json", env=env)
    assert PLAIN_PREPARATION not in result.stderr
    return lines_of(result)


def test_with_the_reader_on_a_plainly_said_preparation_gets_the_crisis_response(
    tmp_path: Path,
) -> None:
    without = _chat(tmp_path / "off", contextual=False)[-1]["replies"]
    assert {r.get("safety") for r in without} == {None}  # what the word model alone misses
    replies = _chat(tmp_path / "on", contextual=True)[-1]["replies"]
    assert {r.get("safety") for r in replies} == {"crisis"}
    said = " ".join(r.get("text", "") for r in replies)
    assert "not a crisis service" in said


# --- measured on the held-out sets (bench/safety_eval.py; numbers in the README) -----------------


def test_the_reader_catches_more_on_the_held_out_sets_within_the_false_alarm_target() -> None:
    bench = bench_script("safety_eval")
    examples = [ex for path in bench.HELD_OUT for ex in bench.load(path)]
    reader = screen_with(ContextualModel())
    alone, read = bench.evaluate(examples), bench.evaluate(examples, reader)
    # Rates only: a failing assert must not print the held-out messages.
    recall, recall_alone = read.crisis_recall, alone.crisis_recall
    false_positives = read.false_positive_rate
    # Measured on a to k: 0.969 with the reader, 0.945 without; hard negatives flagged 0.028
    # and 0.031.
    assert recall >= 0.95 and recall > recall_alone
    assert false_positives <= 0.05
    ordinary = bench.evaluate(bench.load(bench.DATA_DIR / "safety_test_ordinary.csv"), reader)
    taken_for_a_crisis = ordinary.false_alarm_rate
    assert taken_for_a_crisis <= 0.01


# --- how the training script chooses the thresholds ----------------------------------------------


def test_training_chooses_a_lower_confirm_threshold_when_it_catches_more() -> None:
    """A crisis the word model alone calls (0.75) that the reader only half believes (0.6), a
    hard negative the word model alone calls (0.76) that the reader doubts (0.3), and two
    messages the word model passes that the reader is surer of: one threshold for both kinds
    cannot keep both crises within the false-alarm limit (1 in 10 hard negatives is too many);
    a confirm threshold below the raise threshold can."""
    from bot.safety.model import Scores

    script = bench_script("safety_train_contextual")
    scored, readings = [], {}
    none = Screening(Level.NONE, None)
    for source, label, crisis, reading in [
        ("writer_a", "crisis", 0.75, 0.6),
        ("writer_a", "crisis", 0.5, 0.97),
        ("writer_b", "none", 0.76, 0.3),
        ("writer_b", "none", 0.5, 0.9),
        *[("writer_b", "none", 0.1, 0.99)] * 8,  # below the band: never read
        *[("ordinary_chat", "none", 0.05, 0.99)] * 5,
    ]:
        index = sum(s.source == source for s in scored)
        scores = Scores(crisis, 0.0, 1 - crisis, 12)
        scored.append(script.safety_train.Scored(source, label, none, True, scores))
        readings[(source, index)] = Reading(reading, whole=True)
    band, summary = script.choose_band(scored, readings, 0.4)
    assert band == Band(0.4, 0.905, 0.77, 0.305)
    assert "crisis_recall 1.000 (word model alone 0.500)" in summary
    assert "with one reader threshold" in summary and "crisis_recall 0.500" in summary
