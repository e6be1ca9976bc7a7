"""A third reader for screening: a small transformer that reads a message in context.

The linear model (``model.py``) scores words and word pairs, so it cannot tell "I wrote a note
for the dog walker" from a goodbye note. A fine-tuned MiniLM (the first six layers of
all-MiniLM-L6-v2, Apache-2.0, quantised to int8 and run with ONNX Runtime) reads the whole
sentence. It costs about 2 ms per message, ten times the screening budget, so it reads only the
messages the linear model is unsure about: open to a model (the rules did not settle them), more
than three words, and a linear crisis score at or above ``band.low`` but below the crisis
threshold. There it can raise the verdict to crisis, never lower a rule's.

On unless ``REBOUND_SAFETY_CONTEXTUAL=false`` (for a machine too small for its 86 MiB);
``bench/safety_train_contextual.py`` builds the three files it reads, and chooses the thresholds
(:class:`Band`) from out-of-source scores under the same false-alarm limits as the linear model.
Scoring does no I/O and keeps nothing between calls; the session runs on one thread.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bot.safety.model import CLASSES

HERE: Final = Path(__file__).parent
MODEL_FILE: Final = HERE / "contextual.onnx"
TOKENIZER_FILE: Final = HERE / "contextual_tokenizer.json"
CONFIG_FILE: Final = HERE / "contextual.json"
FORMAT: Final = 2
MAX_TOKENS: Final = 96  # as trained; a longer message is read in overlapping windows this long
OVERLAP: Final = 32  # tokens shared by neighbouring windows, so no sentence is only ever cut
CRISIS: Final = CLASSES.index("crisis")  # the column of the model's output
OFF: Final = "or turn the reader off: REBOUND_SAFETY_CONTEXTUAL=false"
INSTALL: Final = f"pip install -e . ({OFF})"
REBUILD: Final = f"reinstall, rebuild them (bench/safety_train_contextual.py), {OFF}"


@dataclass(frozen=True, slots=True)
class Band:
    """Which messages the reader sees, and where it says crisis.

    ``low``: the linear crisis score from which the reader is asked; ``crisis``: the reader's
    probability from which it says crisis; ``linear``: the linear model's own crisis threshold
    while the reader is on (never below the one in model.json). The training script may raise
    it, handing the messages between to the reader, when that catches more crisis messages
    within the same false-alarm limits. ``confirm``: the reader's threshold for those handed
    messages, which the word model alone would call a crisis (it may be lower than ``crisis``:
    the reader then only overrules the word model's call when fairly sure it is wrong).
    """

    low: float
    crisis: float
    linear: float
    confirm: float


@dataclass(frozen=True, slots=True)
class Reading:
    """The reader's crisis probability for a message, and whether it fit in one window (a
    longer one is scored by its most worrying window, and the thresholds were chosen on
    messages that fit, so screen.second_look keeps the word model's own verdict for it)."""

    crisis: float
    whole: bool


def windows(tokenizer: Any, norm: str) -> tuple[list[list[int]], bool]:
    """The token ids the reader reads, and whether that is the whole message in one window.

    ``tokenizer`` is a ``tokenizers.Tokenizer`` without truncation or padding. A message longer
    than ``MAX_TOKENS`` is cut into windows of exactly that length (each with the [CLS] and
    [SEP] tokens), ``OVERLAP`` tokens apart from the next, the last one ending with the message.
    The training script reads messages the same way.
    """
    ids = tokenizer.encode(norm.strip()).ids
    if len(ids) <= MAX_TOKENS:
        return [ids], True
    first, body, last = ids[0], ids[1:-1], ids[-1]
    size = MAX_TOKENS - 2
    starts = [*range(0, len(body) - size, size - OVERLAP), len(body) - size]
    return [[first, *body[start : start + size], last] for start in starts], False


class ContextualModel:
    """The ONNX session, its tokenizer and its thresholds; :meth:`read` is the one entry point."""

    def __init__(self, directory: Path | None = None) -> None:
        config = (directory / CONFIG_FILE.name) if directory else CONFIG_FILE
        model = (directory / MODEL_FILE.name) if directory else MODEL_FILE
        vocab = (directory / TOKENIZER_FILE.name) if directory else TOKENIZER_FILE
        try:
            import numpy
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ValueError(
                f"REBOUND_SAFETY_CONTEXTUAL is on, but {exc.name} is not installed: {INSTALL}"
            ) from None
        missing = [path.name for path in (config, model, vocab) if not path.is_file()]
        if missing:
            raise ValueError(f"{config.parent}: {', '.join(missing)} missing; {REBUILD}")
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            if data["format"] != FORMAT:
                raise ValueError(f"format {data['format']!r}, this version reads {FORMAT}")
            keys = ("band", "crisis", "linear", "confirm")
            self.band = Band(*(_probability(data[key]) for key in keys))
            self.trained_on: str = str(data["trained_on"])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            problem = f"not a contextual model config ({exc})"
            raise ValueError(f"{config}: {problem}; {REBUILD}") from None
        try:  # tokenizers raises plain Exceptions for a damaged file
            self._tokenizer = Tokenizer.from_file(str(vocab))
        except Exception as exc:
            raise ValueError(f"{vocab}: not a tokenizer file ({exc}); {REBUILD}") from None
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._numpy = numpy
        try:  # onnxruntime raises its own errors; a model with other inputs fails the trial
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
            trial = self.read(" a message to check the model with . " * 30)
        except Exception as exc:
            problem = f"not a model this reader can run ({exc})"
            raise ValueError(f"{model}: {problem}; {REBUILD}") from None
        if not (0 <= trial.crisis <= 1 and not trial.whole):
            raise ValueError(f"{model}: gave {trial} for a test message; {REBUILD}")

    def read(self, norm: str) -> Reading:
        """Read a message normalised by ``screen.normalise`` (one model call, its windows
        batched)."""
        np = self._numpy
        batch, whole = windows(self._tokenizer, norm)
        tokens = np.asarray(batch, dtype=np.int64)
        inputs = {"input_ids": tokens, "attention_mask": np.ones_like(tokens)}
        (probs,) = self._session.run(None, inputs)
        if probs.shape != (len(batch), len(CLASSES)):
            raise ValueError(f"output of shape {probs.shape}, not {(len(batch), len(CLASSES))}")
        return Reading(float(probs[:, CRISIS].max()), whole)


def _probability(value: Any) -> float:
    number = float(value)
    if not (math.isfinite(number) and 0 <= number <= 1):
        raise ValueError(f"{value!r} is not a probability")
    return number
