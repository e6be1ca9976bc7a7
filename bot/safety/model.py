"""A learned second opinion for screening: a linear model over the words of a message.

The phrase rules in ``rules.yaml`` are precise but only know the wordings someone wrote down;
on messages written by people who never saw them they caught about a third of crisis messages.
This model reads the same normalised text as the rules and scores it by its words and word pairs
(adjacent and one word apart; TF-IDF weighted, then a three-class logistic regression), so it
also catches wordings nobody wrote a rule for (plans, preparations and finality said plainly).

The weights are data, in ``model.json``, written by ``bench/safety_train.py`` from labelled
messages (bench/data/README.md lists them): to change what the model knows, change the data and
retrain; never edit the weights. Scoring is pure Python (a dictionary lookup per word and word
pair, no numpy, no I/O, nothing kept between calls) and takes tens of microseconds.

How the model and the rules are combined is decided in ``screen.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

MODEL_PATH: Final = Path(__file__).with_name("model.json")
CLASSES: Final = ("crisis", "distress", "none")
FORMAT: Final = 2  # 2: features include pairs one word apart
SHORT_WORDS: Final = 5
TOO_SHORT: Final = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where the model's scores change the verdict (chosen by bench/safety_train.py).

    A crisis score at or above ``crisis`` is a crisis, or at or above ``crisis_short`` for a
    message of at most ``SHORT_WORDS`` words (a few words give the model little evidence, and
    "note: nerves" must not look like a note left behind). A message of at most
    ``TOO_SHORT`` words is never a crisis on the model's word alone ("goodbye", "I'm done"):
    the rules read the short explicit ones ("kms", "I want to die"). A distress score at or
    above ``distress`` is distress.
    """

    crisis: float
    crisis_short: float
    distress: float

    def crisis_for(self, words: int) -> float:
        if words <= TOO_SHORT:
            return math.inf
        return self.crisis_short if words <= SHORT_WORDS else self.crisis


@dataclass(frozen=True, slots=True)
class Scores:
    """The model's probabilities for one message (they sum to 1) and its length in words."""

    crisis: float
    distress: float
    none: float
    words: int


def features(norm: str) -> dict[str, int]:
    """Words, adjacent word pairs and pairs one word apart ("want * die"), with their counts.

    The pairs one word apart let "want to die" and "want 2 die" share evidence, and carry a
    wording the model never saw whole ("wont * needing"). Punctuation tokens are left out (they
    say more about who wrote the training data than about the message) and no pair crosses
    one. The training script builds its vocabulary with exactly this function, so training and
    scoring cannot disagree about a feature. (Measured out of source: words and pairs 0.81
    crisis recall, plus pairs one word apart 0.84, plus triples instead 0.83.)
    """
    counts: dict[str, int] = {}
    count = counts.get
    before = previous = None
    for word in norm.split():
        if word in _PUNCTUATION:
            before = previous = None
            continue
        counts[word] = count(word, 0) + 1
        if previous is not None:
            pair = f"{previous} {word}"
            counts[pair] = count(pair, 0) + 1
            if before is not None:
                pair = f"{before} * {word}"
                counts[pair] = count(pair, 0) + 1
        before, previous = previous, word
    return counts


_PUNCTUATION: Final = frozenset({".", ",", '"'})


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _weights(entry: Any) -> tuple[float, float, float, float]:
    if len(entry) != 1 + len(CLASSES):
        raise ValueError(f"a feature needs idf and {len(CLASSES)} weights, got {entry!r}")
    idf, crisis, distress, none = (_finite(v) for v in entry)
    return idf, crisis, distress, none


def _threshold(value: Any) -> float:
    number = _finite(value)
    if not 0 < number <= 1:
        raise ValueError(f"threshold {value!r} is not in (0, 1]")
    return number


class Model:
    """Weights read from ``model.json``; :meth:`scores` is the one entry point."""

    def __init__(self, data: Any, where: str = "model.json") -> None:
        fix = "rebuild it with: python bench/safety_train.py"
        try:
            if data["format"] != FORMAT or tuple(data["classes"]) != CLASSES:
                raise ValueError(f"format {data['format']!r} / classes {data['classes']!r}")
            intercept = tuple(_finite(v) for v in data["intercept"])
            vocab = {str(f): _weights(w) for f, w in data["features"].items()}
            raw = data["thresholds"]
            self.thresholds = Thresholds(
                *(_threshold(raw[key]) for key in ("crisis", "crisis_short", "distress"))
            )
            self.trained_on: str = str(data["trained_on"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"{where}: not a safety model file this version can read ({exc}); {fix}"
            ) from None
        if len(intercept) != len(CLASSES) or not vocab:
            raise ValueError(f"{where}: empty or malformed model; {fix}")
        self._intercept = intercept
        # Scoring needs idf squared (for the vector's length) and idf times each weight.
        self._vocab = {
            f: (idf * idf, idf * wc, idf * wd, idf * wn) for f, (idf, wc, wd, wn) in vocab.items()
        }

    @classmethod
    def load(cls, path: Path | None = None) -> Model:
        path = path or MODEL_PATH
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the safety model ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls(data, str(path))

    def scores(self, norm: str) -> Scores:
        """Class probabilities for a message already normalised by ``screen.normalise``."""
        vocab = self._vocab.get
        sq = c = d = n = 0.0
        words = 0
        for feature, count in features(norm).items():
            if " " not in feature:
                words += count
            entry = vocab(feature)
            if entry is None:
                continue
            idf2, wc, wd, wn = entry
            if count == 1:  # most features: sublinear term frequency 1 + log(1) = 1
                sq += idf2
                c += wc
                d += wd
                n += wn
            else:
                tf = 1.0 + math.log(count)
                sq += tf * tf * idf2
                c += tf * wc
                d += tf * wd
                n += tf * wn
        scale = 1.0 / math.sqrt(sq) if sq else 0.0  # the TF-IDF vector is L2-normalised
        bc, bd, bn = self._intercept
        zc, zd, zn = bc + c * scale, bd + d * scale, bn + n * scale
        top = max(zc, zd, zn)
        ec, ed, en = math.exp(zc - top), math.exp(zd - top), math.exp(zn - top)
        total = ec + ed + en
        return Scores(ec / total, ed / total, en / total, words)
