"""Shared helpers for the decoder tests (tests/decoder/): synthetic probabilities, the
two implementations by name, and a streaming run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import ENGLISH

from dstorch.decoder.native import KernelBeamSearch
from dstorch.decoder.reference import ReferenceBeamSearch

SCORER = Path(__file__).parent / "fixtures" / "scorer" / "commands.scorer"
C = len(ENGLISH) + 1
BLANK = C - 1
HOT = {"music": 2.0, "off": -1.5, "stop": 0.5}

# No skip without the kernel: it is production, and its one-line error names the fix.
IMPLEMENTATIONS = {"reference": ReferenceBeamSearch, "kernel": KernelBeamSearch}


def implementation(name: str) -> type:
    """The search class called name ("reference", "kernel")."""
    return IMPLEMENTATIONS[name]


def random_probs(seed: int, steps: int = 120, classes: int = C) -> np.ndarray:
    """float32 softmax rows [steps, classes], blank-heavy like a trained model, with a
    few silent steps first (expansion starts late) and some exact ties."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(steps, classes)) * rng.uniform(1, 5)
    logits[:, -1] += rng.uniform(0, 4, size=steps)
    logits[: seed % 4, -1] += 30.0  # P(blank) >= 0.999: the client skips these steps
    logits[5:9, 3] = logits[5:9, 7]  # equal probabilities: ties between extensions
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return (probs / probs.sum(1, keepdims=True)).astype(np.float32)


def run(search, probs: np.ndarray, cuts=(16, 17, 64), num_results: int = 5):
    """search fed probs [T, C] in uneven chunks (streaming changes nothing), decoded."""
    for chunk in np.array_split(probs, list(cuts)):
        search.next(chunk)
    return search.decode(num_results)


def soft(text: str, p: float = 0.6, blanks: int = 1) -> np.ndarray:
    """Log probs [T, C]: each character (then `blanks` blanks) gets p, the rest share 1 - p."""
    rows = []
    for label in [ENGLISH.index(ch) for ch in text]:
        for cls in [label] + [BLANK] * blanks:
            row = np.full(C, (1 - p) / (C - 1))
            row[cls] = p
            rows.append(row)
    return np.log(np.array(rows))


def spelled(text: str) -> np.ndarray:
    """float32 probabilities [2 * len(text), C]: each character (P = 0.7), then a blank."""
    rows = np.full((2 * len(text), C), 0.3 / (C - 1), np.float32)
    for i, ch in enumerate(text):
        rows[2 * i, ENGLISH.index(ch)] = rows[2 * i + 1, C - 1] = 0.7
    return rows
