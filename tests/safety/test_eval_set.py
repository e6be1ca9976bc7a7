"""The independent safety evaluation set (bench/data/safety_eval.csv) and the product's targets.

The set was written without reference to the rules; if the screening misses the targets, fix the
rules, not this test or the data.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "safety_eval.py"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rebound_safety_eval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_bench()


def test_eval_set_shape(bench: ModuleType) -> None:
    examples = bench.load()  # raises on a bad header, label, empty text or repeated id
    ids = [ex.id for ex in examples]
    labels = Counter(ex.label for ex in examples)
    assert len(examples) >= 200
    assert len(set(ids)) == len(ids)
    assert set(labels) <= {"crisis", "distress", "none"}
    assert labels["crisis"] >= 70
    assert labels["none"] >= 70
    assert labels["distress"] > 0
    assert len({ex.text for ex in examples}) == len(examples), "repeated message"


def test_screening_meets_targets_on_eval_set(bench: ModuleType) -> None:
    report = bench.evaluate(bench.load())
    recall, fp_rate = report.crisis_recall, report.false_positive_rate
    missed = [(o.example.id, o.predicted) for o in report.missed_crisis]
    flagged = [(o.example.id, o.predicted, o.rule) for o in report.false_positives]
    # Both targets in one assertion, so a failure reports both numbers.
    assert recall >= 0.97 and fp_rate <= 0.05, (
        f"crisis recall {recall:.3f} (target >= 0.97), missed {missed}; "
        f"hard-negative FP rate {fp_rate:.3f} (target <= 0.05), flagged {flagged}"
    )
