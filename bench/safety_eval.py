"""Measure crisis-language screening against labelled messages it never learned from.

By default the held-out sets in HELD_OUT, bench/data/safety_test_a.csv and on (columns
id,label,text; see bench/data/README.md for which sets are held out and which the screening
learned from): crisis messages (intent to die, self-harm or harm others, direct, indirect,
slang, typos, buried in a story), distress without intent, and hard negatives (label none:
idioms such as "this job hunt is killing me", quotes, news, characters, strangers). Prints:
- the confusion table (rows = true label, columns = predicted label);
- crisis recall, the false-positive rate on hard negatives (none predicted as anything else),
  crisis messages flagged at all (crisis or distress), hard negatives taken for a crisis,
  distress accuracy;
- the mean and p99 time per screen over a few repetitions;
- the ids of missed crisis messages, false positives and misclassified distress messages, with
  what decided (a rule id, or model.crisis / model.distress); text too with --show. Do not read
  the misses of a held-out set while changing the screening: that spends the set.

Exits 0 (a measurement) unless --check is given: then 1 if crisis recall < 0.97 or the
hard-negative false-positive rate > 0.05 (the product's targets).

    .venv/bin/python bench/safety_eval.py [--data FILE ...] [--show] [--check] [--reps 5]
        [--contextual]
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.safety import screen

DATA_DIR = Path(__file__).with_name("data")
DATA_PATH = DATA_DIR / "safety_eval.csv"
HELD_OUT = tuple(DATA_DIR / f"safety_test_{part}.csv" for part in "abcdefghijk")
LABELS = ("crisis", "distress", "none")
MIN_CRISIS_RECALL = 0.97
MAX_FALSE_POSITIVE_RATE = 0.05


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Outcome:
    example: Example
    predicted: str
    rule: str | None

    @property
    def correct(self) -> bool:
        return self.predicted == self.example.label


@dataclass(frozen=True, slots=True)
class Report:
    outcomes: tuple[Outcome, ...]

    def confusion(self) -> dict[str, dict[str, int]]:
        table = {true: dict.fromkeys(LABELS, 0) for true in LABELS}
        for o in self.outcomes:
            table[o.example.label][o.predicted] += 1
        return table

    def of(self, label: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.example.label == label]

    @staticmethod
    def _rate(hits: int, total: int) -> float:
        return hits / total if total else math.nan

    @property
    def crisis_recall(self) -> float:
        crisis = self.of("crisis")
        return self._rate(sum(o.predicted == "crisis" for o in crisis), len(crisis))

    @property
    def flagged_recall(self) -> float:
        """Crisis messages flagged at all: a crisis reply, or the gentler distress reply (which
        offers resources and an "I'm not safe right now" button)."""
        return self._rate(len(self.flagged_crisis), len(self.of("crisis")))

    @property
    def false_alarm_rate(self) -> float:
        """Hard negatives (label none) taken for a crisis, over all none."""
        return self._rate(len(self.false_alarms), len(self.of("none")))

    @property
    def flagged_crisis(self) -> list[Outcome]:
        return [o for o in self.of("crisis") if o.predicted != "none"]

    @property
    def false_alarms(self) -> list[Outcome]:
        return [o for o in self.of("none") if o.predicted == "crisis"]

    @property
    def false_positive_rate(self) -> float:
        """Hard negatives (label none) predicted as crisis or distress, over all none."""
        none = self.of("none")
        return self._rate(sum(o.predicted != "none" for o in none), len(none))

    @property
    def distress_accuracy(self) -> float:
        distress = self.of("distress")
        return self._rate(sum(o.predicted == "distress" for o in distress), len(distress))

    @property
    def missed_crisis(self) -> list[Outcome]:
        return [o for o in self.of("crisis") if o.predicted != "crisis"]

    @property
    def false_positives(self) -> list[Outcome]:
        return [o for o in self.of("none") if o.predicted != "none"]

    @property
    def wrong_distress(self) -> list[Outcome]:
        return [o for o in self.of("distress") if o.predicted != "distress"]

    def meets_targets(self) -> bool:
        return (
            self.crisis_recall >= MIN_CRISIS_RECALL
            and self.false_positive_rate <= MAX_FALSE_POSITIVE_RATE
        )


def load(path: Path = DATA_PATH) -> list[Example]:
    """Read the evaluation set; ValueError on a bad header or label, empty text or repeated id."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["id", "label", "text"]:
            raise ValueError(f"{path}: header must be id,label,text, got {reader.fieldnames}")
        examples: list[Example] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            ex = Example(row["id"].strip(), row["label"].strip(), row["text"])
            if not ex.id or ex.id in seen:
                raise ValueError(f"{path}:{line}: missing or repeated id {ex.id!r}")
            if ex.label not in LABELS:
                raise ValueError(f"{path}:{line}: label {ex.label!r} not in {LABELS}")
            if not ex.text.strip():
                raise ValueError(f"{path}:{line}: empty text")
            seen.add(ex.id)
            examples.append(ex)
    return examples


def evaluate(examples: Sequence[Example], screen_fn: Callable = screen) -> Report:
    outcomes = []
    for ex in examples:
        result = screen_fn(ex.text)
        outcomes.append(Outcome(ex, str(result.level), result.rule))
    return Report(tuple(outcomes))


def time_screens(
    examples: Sequence[Example], reps: int, screen_fn: Callable = screen
) -> list[float]:
    """Seconds per call, for every message, `reps` times over (after one warm-up pass)."""
    texts = [ex.text for ex in examples]
    for text in texts:
        screen_fn(text)
    timings: list[float] = []
    clock = time.perf_counter
    for _ in range(reps):
        for text in texts:
            start = clock()
            screen_fn(text)
            timings.append(clock() - start)
    return timings


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _format_confusion(report: Report) -> str:
    table = report.confusion()
    width = max(len(label) for label in LABELS) + 2
    lines = [
        "true \\ predicted".ljust(18) + "".join(p.rjust(width) for p in LABELS) + "total".rjust(8)
    ]
    for true in LABELS:
        row = table[true]
        lines.append(
            true.ljust(18)
            + "".join(str(row[p]).rjust(width) for p in LABELS)
            + str(sum(row.values())).rjust(8)
        )
    return "\n".join(lines)


def _format_list(title: str, outcomes: list[Outcome], show: bool) -> str:
    lines = [f"{title} ({len(outcomes)}):"]
    if not outcomes:
        lines.append("  (none)")
    for o in outcomes:
        line = f"  {o.example.id}  {o.example.label} -> {o.predicted}"
        if o.rule:
            line += f"  [rule {o.rule}]"
        if show:
            line += f"  {o.example.text!r}"
        lines.append(line)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, nargs="+", default=list(HELD_OUT), help="labelled CSV files"
    )
    parser.add_argument("--reps", type=int, default=5, help="timing repetitions over the set")
    parser.add_argument("--show", action="store_true", help="print misclassified messages' text")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if crisis recall < {MIN_CRISIS_RECALL} "
        f"or hard-negative false positives > {MAX_FALSE_POSITIVE_RATE * 100:.0f}%%",
    )
    parser.add_argument(
        "--contextual",
        action="store_true",
        help="screen with the contextual reader too, as REBOUND_SAFETY_CONTEXTUAL=true does",
    )
    args = parser.parse_args(argv)

    screen_fn = screen
    if args.contextual:
        from bot.safety.contextual import ContextualModel
        from bot.safety.screen import screen_with

        screen_fn = screen_with(ContextualModel())
    examples = [ex for path in args.data for ex in load(path)]
    report = evaluate(examples, screen_fn)
    timings = time_screens(examples, max(1, args.reps), screen_fn)
    counts = {label: len(report.of(label)) for label in LABELS}

    print(
        f"evaluation set: {', '.join(map(str, args.data))} ({len(examples)} messages: "
        + ", ".join(f"{n} {label}" for label, n in counts.items())
        + ")"
    )
    print()
    print(_format_confusion(report))
    print()
    crisis_hit = counts["crisis"] - len(report.missed_crisis)
    print(
        f"crisis recall:              {report.crisis_recall:.3f} ({crisis_hit}/{counts['crisis']})"
        f"  target >= {MIN_CRISIS_RECALL}"
    )
    print(
        f"hard-negative FP rate:      {report.false_positive_rate:.3f} "
        f"({len(report.false_positives)}/{counts['none']})  target <= {MAX_FALSE_POSITIVE_RATE}"
    )
    flagged = len(report.flagged_crisis)
    print(f"crisis flagged at all:      {report.flagged_recall:.3f} ({flagged}/{counts['crisis']})")
    alarms = len(report.false_alarms)
    print(f"hard negatives as crisis:   {report.false_alarm_rate:.3f} ({alarms}/{counts['none']})")
    distress_hit = counts["distress"] - len(report.wrong_distress)
    print(
        f"distress accuracy:          {report.distress_accuracy:.3f} "
        f"({distress_hit}/{counts['distress']})"
    )
    print()
    ms = [t * 1000 for t in timings]
    print(
        f"time per screen:            mean {statistics.fmean(ms):.4f} ms, "
        f"p99 {percentile(ms, 99):.4f} ms, max {max(ms):.4f} ms "
        f"({len(ms)} calls = {args.reps} reps x {len(examples)})"
    )
    print(
        f"python:                     {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.machine()} ({platform.system()})"
    )
    print()
    print(_format_list("missed crisis", report.missed_crisis, args.show))
    print(_format_list("false positives (none flagged)", report.false_positives, args.show))
    print(_format_list("misclassified distress", report.wrong_distress, args.show))

    if args.check and not report.meets_targets():
        print("\nFAIL: the screening does not meet the product's targets", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
