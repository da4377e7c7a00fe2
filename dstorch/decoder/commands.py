"""Constrain a transcription to exactly one of a fixed list of command sentences.

A command recogniser should answer with one of its commands, never a near miss. Each
sentence is scored by its exact CTC probability under the acoustic model (the sum over
all alignments, as training scores it), plus, with a scorer, the language model terms
the beam search would add (alpha * log P(word | history) + beta per word, hot-word
boosts included). The best sentences are returned as decoder candidates, with token
times from the best single alignment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dstorch.bytes_mode import codepoint_sentence, encode_bytes, is_byte_labels
from dstorch.decoder.base import Candidate, hot_boost, rounded_alpha_beta
from dstorch.errors import DstorchError
from dstorch.lm.scorer import Scorer
from dstorch.prepare.sources import normalise_text, read_commands


class CommandError(DstorchError, ValueError):
    """An unusable commands file or sentence."""


def load_commands(path: str | Path, labels: list[str], language: str | None = None) -> list[str]:
    """Sentences of a commands.csv (header `id,<language>,...`; language None: the first
    language column) or of a text file (one a line), normalised like training data."""
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{path}: commands file not found; pass a commands.csv or a text file")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    header = [h.strip().lower() for h in text.split("\n", 1)[0].replace(";", ",").split(",")]
    if path.suffix.lower() == ".csv" and "id" in header:
        columns = [h for h in header if h != "id"]
        if not columns:
            raise CommandError(f"{path}: no language column next to `id`; add one")
        raw = list(read_commands(path, language or columns[0])[0].values())
    else:
        raw = text.splitlines()
    keep = {label for label in labels if not label.isalnum()}
    sentences = list(dict.fromkeys(s for s in (normalise_text(r, keep) for r in raw) if s))
    if not sentences:
        raise CommandError(f"{path}: no command sentences in it; add one per line")
    return sentences


def encode(sentence: str, labels: list[str]) -> list[int]:
    """Label indices spelling ``sentence`` (longest label first; bytes output mode: its
    UTF-8 bytes); CommandError if it can't."""
    if is_byte_labels(labels):
        spelt = encode_bytes(sentence)
        if spelt is None:
            raise CommandError(f"command {sentence!r}: a NUL character cannot be spelt; remove it")
        return spelt
    by_length = sorted(range(len(labels)), key=lambda i: -len(labels[i]))
    out, pos = [], 0
    while pos < len(sentence):
        fits = (i for i in by_length if labels[i] and sentence.startswith(labels[i], pos))
        hit = next(fits, None)
        if hit is None:
            raise CommandError(
                f"command {sentence!r}: {sentence[pos]!r} is not in the model's alphabet; "
                "fix the command or retrain with it"
            )
        out.append(hit)
        pos += len(labels[hit])
    return out


class CommandGrammar:
    """The command sentences of one model's alphabet, ready to rank."""

    def __init__(self, sentences: list[str], labels: list[str]):
        self.sentences, self.labels = list(sentences), list(labels)
        self.targets = [encode(s, self.labels) for s in self.sentences]

    def lm_scores(self, scorer: Scorer, hot_words: dict[str, float]) -> np.ndarray:
        """float64 [S]: the LM terms the beam search adds over each whole sentence."""
        alpha, beta = rounded_alpha_beta(scorer)
        out = np.zeros(len(self.sentences))
        for s, sentence in enumerate(self.sentences):
            # A UTF-8 scorer's words are codepoints (the beam search scores each one).
            words = codepoint_sentence(sentence).split() if scorer.utf8 else sentence.split()
            for i in range(len(words)):
                ngram = tuple(words[max(0, i + 1 - scorer.order) : i + 1])
                lm = scorer.log_cond_prob(ngram, len(ngram) < scorer.order)
                # The decoder boosts words closed by a space, not the unfinished last one;
                # a UTF-8 scorer closes every complete codepoint.
                closed = i < len(words) - 1 or scorer.utf8
                boost = float(hot_boost(ngram, hot_words)) if closed else 0.0
                out[s] += alpha * (lm + boost) + beta
        return out

    def rank(
        self,
        log_probs: np.ndarray,
        scorer: Scorer | None = None,
        hot_words: dict[str, float] | None = None,
        num_results: int = 1,
    ) -> list[Candidate]:
        """Best sentences for log_probs [T, C] (natural log, blank last), best first.

        Sentences that cannot fit in T steps are left out; none fitting gives one
        empty candidate with confidence -inf.
        """
        scores = ctc_log_likelihoods(log_probs, self.targets)
        if scorer is not None:
            scores = scores + self.lm_scores(scorer, hot_words or {})
        order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
        if not order:
            return [Candidate("", float("-inf"), [], [])]
        out = []
        for i in order[:num_results]:
            steps = best_alignment(log_probs, self.targets[i])
            out.append(Candidate(self.sentences[i], float(scores[i]), self.targets[i], steps))
        return out


def ctc_log_likelihoods(log_probs: np.ndarray, targets: list[list[int]]) -> np.ndarray:
    """float64 [S]: log P(target | log_probs [T, C]) summed over alignments (blank last)."""
    t, c = log_probs.shape
    if t == 0:
        return np.full(len(targets), -np.inf)
    lp = torch.from_numpy(np.ascontiguousarray(log_probs, np.float64))[:, None, :]
    lp = lp.expand(t, len(targets), c)
    flat = torch.tensor([label for target in targets for label in target], dtype=torch.long)
    lengths = torch.tensor([len(target) for target in targets], dtype=torch.long)
    loss = torch.nn.functional.ctc_loss(
        lp, flat, torch.full((len(targets),), t, dtype=torch.long), lengths,
        blank=c - 1, reduction="none", zero_infinity=False,
    )  # fmt: skip
    return -loss.numpy()


def best_alignment(log_probs: np.ndarray, target: list[int]) -> list[int]:
    """Viterbi CTC alignment of target [L] over log_probs [T, C]: -> first step of each
    label [L]."""
    blank = log_probs.shape[1] - 1
    states = np.full(2 * len(target) + 1, blank)
    states[1::2] = target
    n = len(states)
    # A label may follow the label before it directly (skipping the blank) if they differ.
    skip = np.zeros(n, bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    score = np.full(n, -np.inf)
    score[: min(2, n)] = log_probs[0, states[: min(2, n)]]
    back = np.zeros((len(log_probs), n), np.int8)
    for t in range(1, len(log_probs)):
        moves = np.full((3, n), -np.inf)
        moves[0], moves[1, 1:] = score, score[:-1]
        moves[2, 2:] = np.where(skip[2:], score[:-2], -np.inf)
        back[t] = np.argmax(moves, axis=0)
        score = moves[back[t], np.arange(n)] + log_probs[t, states]
    state = n - 1 if n == 1 or score[n - 1] >= score[n - 2] else n - 2
    path = np.empty(len(log_probs), np.int64)
    for t in range(len(log_probs) - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    return [int(np.argmax(path == s)) for s in range(1, n, 2)]
