"""The labelled safety sets in bench/data/ and the screening's measured quality on them.

Two kinds of set live there (bench/data/README.md says which is which):
- sets the screening learned from: the rules were revised against safety_eval.csv and
  safety_holdout.csv, and the model (bench/safety_train.py) trains on them, on
  safety_holdout2.csv and on bench/data/safety_train/. Quality on them is a regression check only.
- held-out sets, safety_test_*.csv, written by people who saw neither the rules, the model nor
  its data, and never read while building either. The floors below sit a little under what was
  measured (README, "Measured quality") so that a change that makes screening worse fails here.
  They are floors, not the product's targets (crisis recall >= 0.97, hard-negative false
  positives <= 5%), which the screening does NOT meet on held-out sets. If a floor fails, fix the
  screening or its training data, never these sets.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from bot.safety.screen import normalise
from tests.safety.scripts import bench_script

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "bench" / "data"
# Not measured yet: kept for the next models, one each (bench/data/README.md).
UNREAD = ("safety_test_l.csv", "safety_test_m.csv")
ORDINARY = "safety_test_ordinary.csv"
ALL_SETS = sorted(p.name for p in DATA.glob("safety_*.csv"))


BENCH_MODULE = bench_script("safety_eval")
HELD_OUT = tuple(path.name for path in BENCH_MODULE.HELD_OUT)  # what safety_eval.py measures


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return BENCH_MODULE


def test_the_held_out_sets_are_there() -> None:
    assert {*HELD_OUT, ORDINARY, *UNREAD} <= set(ALL_SETS)


@pytest.mark.parametrize("name", ALL_SETS)
def test_set_shape(bench: ModuleType, name: str) -> None:
    examples = bench.load(DATA / name)  # raises on a bad header, label, empty text or repeated id
    labels = Counter(ex.label for ex in examples)
    assert len(examples) >= 150
    assert set(labels) <= {"crisis", "distress", "none"}
    if name != ORDINARY:
        assert labels["crisis"] >= 60 and labels["none"] >= 60 and labels["distress"] > 0
    assert len({ex.text for ex in examples}) == len(examples), "repeated message"


def test_no_held_out_message_is_in_the_training_data(bench: ModuleType) -> None:
    paths = [DATA / n for n in ALL_SETS if not n.startswith("safety_test")]
    paths += sorted((DATA / "safety_train").glob("*.csv"))
    paths += sorted((DATA / "incoming").glob("*.csv"))  # written, to be trained on next
    trained = {normalise(ex.text) for path in paths for ex in bench.load(path)}
    for name in (*HELD_OUT, ORDINARY, *UNREAD):
        assert not [ex.id for ex in bench.load(DATA / name) if normalise(ex.text) in trained]


def test_screening_stays_above_its_measured_floor_on_held_out_sets(bench: ModuleType) -> None:
    report = bench.evaluate([ex for name in HELD_OUT for ex in bench.load(DATA / name)])
    assert report.crisis_recall >= 0.90 and report.false_positive_rate <= 0.05, (
        f"crisis recall {report.crisis_recall:.3f} (floor 0.90), hard-negative false positives "
        f"{report.false_positive_rate:.3f} (ceiling 0.05)"
    )


def test_ordinary_chat_is_almost_never_flagged(bench: ModuleType) -> None:
    report = bench.evaluate(bench.load(DATA / ORDINARY))
    assert report.false_positive_rate <= 0.01
    # The training limit for ordinary chat taken for a crisis is 1% (bench/safety_train.py);
    # measured: 1 of these 300 since the model reads pairs one word apart (0 before).
    assert report.false_alarm_rate <= 0.01, "ordinary chat was taken for a crisis too often"


def test_sets_the_screening_learned_from_stay_at_the_targets(bench: ModuleType) -> None:
    """A regression check only: these sets are training data (see the module docstring)."""
    for name in ("safety_eval.csv", "safety_holdout.csv"):
        report = bench.evaluate(bench.load(DATA / name))
        assert report.meets_targets(), (name, report.crisis_recall, report.false_positive_rate)
