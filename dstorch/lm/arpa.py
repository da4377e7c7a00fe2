"""A command-strict language model, written as ARPA text by hand (LM_MODE=commands).

The official 0.9.3 client adds ``alpha * ln P(word | history) + beta`` whenever a word
ends (native_client/ctcdecode), with ``bos`` while the history is shorter than the LM
order, and never scores an end of sentence. An n-gram LM whose n-grams are exactly those
of ``<s> + command`` and whose back-off weights are all -10 (log10) therefore lets a
command, or a prefix of one, cost its usual few nats, while any word that leaves the
command set pays at least one -10 back-off (about -23 * alpha in ln): the client can
only answer a command or a prefix of one, unless the acoustics are overwhelming.

* order: the longest command in words + 1 (for ``<s>``), capped at KenLM's maximum;
* n-grams: every n-gram of ``<s> + command``, ``log10(count / count(context))``;
* unigrams: the command words, uniform; ``<s>``, ``</s>`` and ``<unk>`` at -99;
* back-off: -10 on every n-gram below the highest order, extended or not. The ones
  without extensions matter too: with "stop" and "please stop the music", the n-gram
  "<s> stop" has none, and a back-off of 0 would let "stop the" through.

With garbage words (``garbage_ngrams``), an out-of-grammar path joins: any garbage word
is reachable from anywhere at a cost the scorer stage tunes, so speech that is no command
can come out as what it is, and the device rejects it. KenLM adds the back-off of every
context order it falls through, so the escape is put where it is paid exactly once:

* the n-grams that start with ``<s>`` (the client's history inside a command) keep their
  probabilities, and their back-off is ``escape`` (log10);
* every other n-gram (reached only by backing off: salad, or after garbage) costs -10
  more in its probability, its back-off is 0;
* a garbage word is a unigram at log10(1 / number of garbage words), back-off 0, so
  garbage words chain at that price per word; a command word that is no garbage word
  keeps its unigram at uniform - 10;
* order: one more than without garbage (within KenLM's maximum), so that the word after
  a complete command is still seen from ``<s>`` and pays the escape.
Leaving a command for a garbage word then costs escape + log10(1 / garbage words);
command word salad still costs -10 per word.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
IMPOSSIBLE = -99.0  # log10 probability of <s>, </s> and <unk>: never predicted
OUTSIDE_BACKOFF = -10.0  # log10 back-off: what leaving the command set costs per word


@dataclass(frozen=True)
class Entry:
    """One ARPA line: log10 probability and back-off (None: the highest order has none)."""

    logprob: float
    backoff: float | None


def command_order(sentences: Sequence[str], max_order: int) -> int:
    """Longest command in words + 1 (for <s>), within [2, max_order]."""
    longest = max((len(s.split()) for s in sentences), default=1)
    return max(2, min(longest + 1, max_order))


Table = list[dict[tuple[str, ...], Entry]]


def _command_counts(sentences: Iterable[str], order: int) -> tuple[list, Counter]:
    """(distinct commands as word tuples, counts of their n-grams and contexts)."""
    commands = sorted({tuple(s.split()) for s in sentences if s.split()})
    if not commands:
        raise ValueError("no command sentences for the language model")
    counts: Counter[tuple[str, ...]] = Counter()
    for words in commands:
        sequence = (BOS, *words)
        for n in range(2, order + 1):
            for start in range(len(sequence) - n + 1):
                counts[sequence[start : start + n]] += 1
    for words in commands:  # a context count includes the ends of commands
        counts[(BOS,)] += 1
        for word in words:
            counts[(word,)] += 1
    return commands, counts


def command_ngrams(sentences: Iterable[str], order: int) -> Table:
    """ARPA entries by order: result[n - 1] maps each n-gram (a word tuple) to its Entry.

    Sentences are deduplicated (a command recorded twice is still one command), so the
    probabilities reflect how commands branch, not how often they were typed.
    """
    commands, counts = _command_counts(sentences, order)
    vocabulary = sorted({w for words in commands for w in words})
    uniform = math.log10(1.0 / len(vocabulary))
    unigrams = {(w,): Entry(uniform, OUTSIDE_BACKOFF) for w in vocabulary}
    unigrams[(BOS,)] = Entry(IMPOSSIBLE, OUTSIDE_BACKOFF)
    unigrams[(EOS,)] = Entry(IMPOSSIBLE, None)
    unigrams[(UNK,)] = Entry(IMPOSSIBLE, None)
    table = [unigrams]
    for n in range(2, order + 1):
        backoff = OUTSIDE_BACKOFF if n < order else None
        table.append(
            {
                gram: Entry(math.log10(count / counts[gram[:-1]]), backoff)
                for gram, count in sorted(counts.items())
                if len(gram) == n
            }
        )
    return table


def garbage_ngrams(
    sentences: Iterable[str], garbage: Iterable[str], order: int, escape: float
) -> Table:
    """command_ngrams with the out-of-grammar path (see the module's docstring):
    ``garbage`` words reachable from any point at ``escape`` (log10) once, chaining freely."""
    commands, counts = _command_counts(sentences, order)
    junk = sorted(set(garbage) - {BOS, EOS, UNK})
    if not junk:
        raise ValueError("no garbage words for the out-of-grammar path")
    uniform = math.log10(1.0 / len({w for words in commands for w in words}))
    unigrams = {(w,): Entry(uniform + OUTSIDE_BACKOFF, 0.0) for words in commands for w in words}
    unigrams |= {(w,): Entry(math.log10(1.0 / len(junk)), 0.0) for w in junk}
    unigrams[(BOS,)] = Entry(IMPOSSIBLE, escape)
    unigrams[(EOS,)] = Entry(IMPOSSIBLE, None)
    unigrams[(UNK,)] = Entry(IMPOSSIBLE, None)
    table = [dict(sorted(unigrams.items()))]
    for n in range(2, order + 1):
        grams = {}
        for gram, count in sorted(counts.items()):
            if len(gram) != n:
                continue
            inside = gram[0] == BOS  # the client's history within a command
            logprob = math.log10(count / counts[gram[:-1]]) + (0 if inside else OUTSIDE_BACKOFF)
            grams[gram] = Entry(logprob, None if n == order else escape if inside else 0.0)
        table.append(grams)
    return table


def arpa_text(table: Sequence[dict[tuple[str, ...], Entry]]) -> str:
    """The ARPA file for ``table`` (as command_ngrams returns it)."""
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(grams)}" for n, grams in enumerate(table, start=1)]
    for n, grams in enumerate(table, start=1):
        lines += ["", f"\\{n}-grams:"]
        for gram, entry in grams.items():
            line = f"{entry.logprob:.6f}\t{' '.join(gram)}"
            lines.append(line if entry.backoff is None else f"{line}\t{entry.backoff:.6f}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def write_command_arpa(
    sentences: Sequence[str],
    path: Path,
    max_order: int,
    garbage: Collection[str] = (),
    escape: float = 0.0,
) -> int:
    """Write the command-strict ARPA for ``sentences`` to ``path`` (with the out-of-grammar
    path of ``garbage`` words at ``escape`` when there are any); -> its order."""
    if not garbage:
        order = command_order(sentences, max_order)
        path.write_text(arpa_text(command_ngrams(sentences, order)), encoding="utf-8")
        return order
    order = min(command_order(sentences, max_order) + 1, max_order)
    table = garbage_ngrams(sentences, garbage, order, escape)
    path.write_text(arpa_text(table), encoding="utf-8")
    return order
