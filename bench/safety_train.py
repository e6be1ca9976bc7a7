"""Train the screening model (bot/safety/model.json) from labelled messages.

Training data: every CSV in bench/data/safety_train/ (columns id,label,text; each file written
by a different author, so a file is a fair unit to hold out), the older evaluation sets
bench/data/safety_eval.csv, safety_holdout.csv and safety_holdout2.csv (spent as held-out
sets: the rules were tuned on the first two and holdout2 was read while this model was built),
and the examples in bot/safety/rules.yaml labelled by the rules alone.
Sets in bench/data/safety_test_*.csv are NEVER read here: they measure the result.

How the decision thresholds are chosen, without looking at any test set: each source is held
out in turn, a model is trained on the others and scores the held-out messages. Over those
out-of-source scores, with the rules and the model combined exactly as screen() combines them,
the crisis threshold for messages of at most 5 words is the lowest at which no short ordinary
message and at most --max-short-crisis of the short hard negatives are taken for a crisis; the
crisis threshold is the lowest at which at most --max-hard-crisis of the hard negatives and
--max-ordinary-crisis of ordinary chat (files named ordinary*.csv) are taken for a crisis (a
false alarm pauses the person's flow and sends them helplines); the distress threshold is then
the lowest at which at most --max-hard-flagged of the hard negatives and
--max-ordinary-flagged of ordinary chat are flagged at all. Recall is whatever those limits
leave; the script prints it. The final model is then trained on all sources and written with
those thresholds.

Needs scikit-learn (pip install -e '.[train]'); the bot itself does not.

    .venv/bin/python bench/safety_train.py [--check] [--by-source] [--c 30]
        [--max-hard-crisis 0.05] [--max-ordinary-crisis 0.01] ...

--check rebuilds in memory and exits 1 when the shipped model.json differs from what the data
gives (a data change without a retrain), instead of writing the file. --by-source also prints
out-of-source crisis recall per source, weakest first, and where the missed crisis messages
fall (settled by a rule, too short, under or inside the contextual reader's band): the angles a
new writer should take.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.safety import contextual  # noqa: E402
from bot.safety import model as safety_model  # noqa: E402
from bot.safety.screen import (  # noqa: E402
    Level,
    Screening,
    decide,
    judge,
    normalise,
    rules,
    rules_only,
)

DATA = ROOT / "bench" / "data"
TRAIN_DIR = DATA / "safety_train"
ORDINARY = "ordinary"  # files named ordinary*.csv hold everyday chat, all labelled none
SPENT_SETS = ("safety_eval.csv", "safety_holdout.csv", "safety_holdout2.csv")
CLASSES = safety_model.CLASSES
DEFAULT_C = 30.0  # inverse regularisation: 30 beat 10 out of source (0.846 vs 0.840 recall)


def training_files() -> list[Path]:
    files = sorted(TRAIN_DIR.glob("*.csv")) + [DATA / name for name in SPENT_SETS]
    if any(f.name.startswith("safety_test") for f in files):
        raise SystemExit("a test set is among the training files: refusing to train on it")
    return files


def read_csv(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["id", "label", "text"]:
            raise SystemExit(f"{path}: header must be id,label,text")
        rows = [(row["label"].strip(), row["text"]) for row in reader]
    bad = sorted({label for label, _ in rows} - set(CLASSES))
    if bad:
        raise SystemExit(f"{path}: unknown labels {bad}")
    return rows


def rule_examples() -> list[tuple[str, str]]:
    """Every example in rules.yaml, labelled by what the rules alone say (the tests pin that)."""
    return [
        (str(rules_only(text).level), text) for rule in rules() for text in rule.fires + rule.quiet
    ]


def sources() -> dict[str, list[tuple[str, str]]]:
    out = {path.stem: read_csv(path) for path in training_files()}
    out["rules.yaml examples"] = rule_examples()
    return out


def fingerprint(srcs: dict[str, list[tuple[str, str]]], c: float, min_df: int = 2) -> str:
    """What the model was built from: each message as the model reads it, and the settings.

    Normalised words, not raw text, so that a change to normalisation or to the features also
    makes the shipped model out of date (tests/safety/test_model.py checks this).
    """
    digest = hashlib.sha256(f"{safety_model.FORMAT}\0{c}\0{min_df}\0".encode())
    for name in sorted(srcs):
        for label, text in srcs[name]:
            words = sorted(safety_model.features(normalise(text)).items())
            digest.update(f"{name}\0{label}\0{words}\0".encode())
    return digest.hexdigest()[:16]


def fit(rows: Sequence[tuple[str, str]], c: float, min_df: int = 2):
    """A fitted (vectoriser, tfidf, classifier) on normalised text, features as in model.py."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    docs = [safety_model.features(normalise(text)) for _, text in rows]
    df: dict[str, int] = {}
    for doc in docs:
        for feature in doc:
            df[feature] = df.get(feature, 0) + 1
    keep = {f for f, n in df.items() if n >= min_df}
    vec = DictVectorizer()
    counts = vec.fit_transform([{f: n for f, n in doc.items() if f in keep} for doc in docs])
    tfidf = TfidfTransformer(sublinear_tf=True)
    x = tfidf.fit_transform(counts)
    clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    clf.fit(x, [label for label, _ in rows])
    if tuple(clf.classes_) != CLASSES:
        raise SystemExit(f"classes {clf.classes_} != {CLASSES}")
    return vec, tfidf, clf


def export(vec, tfidf, clf, thresholds: dict[str, float], trained_on: str) -> dict:
    features = {}
    for name, column in vec.vocabulary_.items():
        weights = [round(float(clf.coef_[k][column]), 5) for k in range(len(CLASSES))]
        features[name] = [round(float(tfidf.idf_[column]), 5), *weights]
    return {
        "format": safety_model.FORMAT,
        "classes": list(CLASSES),
        "intercept": [round(float(b), 5) for b in clf.intercept_],
        "thresholds": thresholds,
        "trained_on": trained_on,
        "features": dict(sorted(features.items())),
    }


def out_of_source(srcs: dict[str, list[tuple[str, str]]], c: float) -> list[Scored]:
    """Every message scored by a model that never saw the message's source."""
    result = []
    for held in srcs:
        rows = [row for name, part in srcs.items() if name != held for row in part]
        vec, tfidf, clf = fit(rows, c)
        m = safety_model.Model(export(vec, tfidf, clf, _NEVER, "out-of-source"))
        for label, text in srcs[held]:
            verdict, rest = judge(text)
            scores = m.scores(rest if rest is not None else normalise(text))
            result.append(Scored(held, label, verdict, rest is not None, scores))
    return result


@dataclass(frozen=True, slots=True)
class Scored:
    source: str
    label: str
    verdict: Screening  # the rules' verdict
    open: bool  # whether the model may overrule it
    scores: safety_model.Scores

    def level(self, th: safety_model.Thresholds) -> Level:
        """The screen's verdict with these thresholds: the model decides an open message."""
        return (decide(self.verdict, self.scores, th) if self.open else self.verdict).level


_NEVER = {"crisis": 1.0, "crisis_short": 1.0, "distress": 1.0}  # only the scores are used


def group_of(s: Scored) -> str:
    """What a message counts as in the rates: its label, with none split into everyday chat
    (``ordinary``) and hard negatives (``hard``)."""
    if s.label == "none":
        return "ordinary" if s.source.startswith(ORDINARY) else "hard"
    return s.label


def outcome(
    scored: Sequence[Scored],
    th: safety_model.Thresholds,
    level_of: Callable[[Scored], Level] | None = None,
) -> dict[str, float]:
    """Rates as screen() would give them with these thresholds (``level_of``: how an open
    message is decided instead, for bench/safety_train_contextual.py).

    crisis_recall: crisis messages taken for a crisis; flagged_recall: crisis messages flagged
    at all (crisis or distress); fp_rate / fp_crisis_rate: hard negatives (label none, not from
    an ordinary-chat file) flagged at all / taken for a crisis; ordinary_flagged /
    ordinary_crisis: the same for ordinary chat.
    """
    n: Counter[str] = Counter()
    for s in scored:
        level = level_of(s) if s.open and level_of is not None else s.level(th)
        group = group_of(s)
        n[group] += 1
        n[f"{group} flagged"] += level is not Level.NONE
        n[f"{group} crisis"] += level is Level.CRISIS
    rates = {
        "crisis_recall": n["crisis crisis"] / max(1, n["crisis"]),
        "flagged_recall": n["crisis flagged"] / max(1, n["crisis"]),
        "fp_rate": n["hard flagged"] / max(1, n["hard"]),
        "fp_crisis_rate": n["hard crisis"] / max(1, n["hard"]),
        "ordinary_flagged": n["ordinary flagged"] / max(1, n["ordinary"]),
        "ordinary_crisis": n["ordinary crisis"] / max(1, n["ordinary"]),
    }
    # The same two rates under the names of the limits for short messages (scored on those only).
    rates["short_crisis"] = rates["fp_crisis_rate"]
    rates["short_ordinary"] = rates["ordinary_crisis"]
    return rates


def choose_thresholds(
    scored: Sequence[Scored], max_fp: dict[str, float]
) -> tuple[dict[str, float], str]:
    """The lowest thresholds whose out-of-source false-alarm rates stay within ``max_fp``."""
    grid = [step / 100 for step in range(5, 100)]
    th = safety_model.Thresholds

    def lowest(part: Sequence[Scored], make, *keys: str) -> float:
        for t in grid:
            if all(outcome(part, make(t))[k] <= max_fp[k] for k in keys):
                return t
        raise SystemExit(f"no threshold keeps {keys} within {[max_fp[k] for k in keys]}")

    short = [s for s in scored if s.scores.words <= safety_model.SHORT_WORDS]
    crisis_short = lowest(short, lambda t: th(2.0, t, 2.0), "short_crisis", "short_ordinary")
    crisis = lowest(scored, lambda t: th(t, crisis_short, 2.0), "fp_crisis_rate", "ordinary_crisis")
    crisis_short = max(crisis_short, crisis)  # short messages never need less confidence
    distress = lowest(scored, lambda t: th(crisis, crisis_short, t), "fp_rate", "ordinary_flagged")
    got = outcome(scored, th(crisis, crisis_short, distress))
    summary = (
        "out-of-source (each source scored by a model trained on the others): thresholds "
        f"crisis {crisis:.2f} (at most {safety_model.SHORT_WORDS} words: {crisis_short:.2f}), "
        f"distress {distress:.2f} give "
        + ", ".join(f"{k} {v:.3f}" for k, v in got.items() if not k.startswith("short_"))
    )
    return {"crisis": crisis, "crisis_short": crisis_short, "distress": distress}, summary


def by_source(scored: Sequence[Scored], th: safety_model.Thresholds, reader_low: float) -> str:
    """Out-of-source crisis recall per source, weakest first, and where the misses fall (the
    contextual reader is asked from linear crisis score ``reader_low`` up): what a new writer's
    angle should aim at. Counts only, never a message."""
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    where: Counter[str] = Counter()
    for s in scored:
        if s.label != "crisis":
            continue
        total[s.source] += 1
        level = s.level(th)
        if level is Level.CRISIS:
            caught[s.source] += 1
        elif not s.open:
            rule = s.verdict.rule or "all of it set aside: someone else's, a quote, a joke"
            where[f"settled below crisis by the rules ({rule})"] += 1
        elif s.scores.words <= safety_model.TOO_SHORT:
            where[f"{safety_model.TOO_SHORT} words or fewer"] += 1
        elif s.scores.crisis < reader_low:
            where[f"linear crisis score under {reader_low} (the reader is never asked)"] += 1
        else:
            where[f"linear crisis score from {reader_low} (the reader is asked)"] += 1
    lines = ["out-of-source crisis recall by source, weakest first:"]
    for name in sorted(total, key=lambda n: (caught[n] / total[n], n)):
        lines.append(
            f"  {name:24s} {caught[name]:4d}/{total[name]:<4d} {caught[name] / total[name]:.3f}"
        )
    lines.append("crisis messages missed, by where:")
    lines += [f"  {n:5d}  {why}" for why, n in where.most_common()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c", type=float, default=DEFAULT_C, help="inverse regularisation")
    limits = {
        "fp_crisis_rate": ("--max-hard-crisis", 0.05, "hard negatives taken for a crisis"),
        "ordinary_crisis": ("--max-ordinary-crisis", 0.01, "ordinary chat taken for a crisis"),
        "fp_rate": ("--max-hard-flagged", 0.05, "hard negatives flagged at all"),
        "ordinary_flagged": ("--max-ordinary-flagged", 0.02, "ordinary chat flagged at all"),
        "short_crisis": ("--max-short-crisis", 0.05, "short hard negatives taken for a crisis"),
        "short_ordinary": ("--max-short-ordinary", 0.0, "short ordinary chat taken for a crisis"),
    }
    for flag, default, what in limits.values():  # the short_ limits count short messages only
        parser.add_argument(flag, type=float, default=default, help=f"at most this share of {what}")
    parser.add_argument("--check", action="store_true", help="compare with the shipped model")
    parser.add_argument(
        "--by-source",
        action="store_true",
        help="also print out-of-source crisis recall per source and where the misses fall",
    )
    args = parser.parse_args(argv)

    srcs = sources()
    print(f"training sources: { {k: len(v) for k, v in srcs.items()} }")
    scored = out_of_source(srcs, args.c)
    max_fp = {key: getattr(args, flag[2:].replace("-", "_")) for key, (flag, *_) in limits.items()}
    thresholds, summary = choose_thresholds(scored, max_fp)
    print(summary)
    if args.by_source:
        reader_low = json.loads(contextual.CONFIG_FILE.read_text(encoding="utf-8"))["band"]
        print(by_source(scored, safety_model.Thresholds(**thresholds), reader_low))
    rows = [row for part in srcs.values() for row in part]
    data = export(*fit(rows, args.c), thresholds, fingerprint(srcs, args.c))
    text = json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n"
    if args.check:
        shipped = safety_model.MODEL_PATH.read_text(encoding="utf-8")
        if shipped != text:
            print("model.json is out of date with its training data: run bench/safety_train.py")
            return 1
        print("model.json matches its training data")
        return 0
    safety_model.MODEL_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {safety_model.MODEL_PATH} ({len(data['features'])} features)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
