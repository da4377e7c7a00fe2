"""The text of speech that is no command: frequent words of a language, near-misses (a
command with one word changed) and everyday sentences of frequent words.

A model that has only heard a few commands spells anything it hears as one of them
(../shared/docs/rejection-probe.md). Trained on these texts too, with their transcripts, it
learns words rather than command shapes, and the scorer's out-of-grammar path
(dstorch.lm.arpa) has words to answer with when what was said is no command.

The frequent words come from wordfreq (its word lists cover about 40 languages). They are
split into three pools by a hash of the word: TRAINING words may be spoken in training,
TUNING words only in the dev negatives (which tune the scorer's escape and calibrate the
gate), HELD_OUT words only in the negatives that measure false accepts (the test
negatives, `make bench-generalisation`). So a measured near-miss is never a phrase the
model was trained on, and the rejection is tuned on words the model never heard, as the
words a device hears in use mostly are: tuned on trained words, it looked better on dev
than it was.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from dstorch.prepare.problems import PrepareError
from dstorch.training.evaluate import edit_distance

FREQUENT_WORDS = 3000  # the most frequent words of the language considered at all
POOL_EVERY = 4  # one word in four is kept for measuring (HELD_OUT), one for tuning (TUNING)
TRAINING, TUNING, HELD_OUT = "training", "tuning", "held-out"
SENTENCE_WORDS = (2, 6)  # everyday sentences: this many words
SIMILAR_SHARE = 0.5  # of the near-misses swap in a word spelt like the one replaced
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")  # letters, one inner apostrophe (it's)


def _code(language: str) -> str:
    return language.split("-")[0].split("_")[0].lower()


def knows(language: str) -> bool:
    """Whether wordfreq has word frequencies for LANGUAGE."""
    import wordfreq  # 40 MB of word lists: loaded only where phrases are made

    return _code(language) in wordfreq.available_languages()


def frequent_words(language: str, count: int = FREQUENT_WORDS) -> list[str]:
    """The `count` most frequent words of LANGUAGE (wordfreq), most frequent first,
    lower case, letters and an inner apostrophe only."""
    import wordfreq

    code = _code(language)
    if not knows(language):
        raise PrepareError(
            f"no word frequencies for LANGUAGE={language}; set GENERAL_SENTENCES=0 and "
            "NEAR_MISSES=0 (wordfreq knows: "
            f"{', '.join(sorted(wordfreq.available_languages()))})"
        )
    words = dict.fromkeys(w.lower() for w in wordfreq.top_n_list(code, count * 2))
    # Single letters ("k", "s") are mostly tokenizer debris; keep the real ones (a, i, y).
    kept = [w for rank, w in enumerate(words) if WORD.fullmatch(w) and (len(w) > 1 or rank < 30)]
    return kept[:count]


def pool_of(word: str) -> str:
    """TRAINING, TUNING or HELD_OUT: a fixed split by hash, the same on every machine."""
    share = hashlib.sha256(word.encode("utf-8")).digest()[0] % POOL_EVERY
    return HELD_OUT if share == 0 else TUNING if share == 1 else TRAINING


def pool(words: Sequence[str], name: str) -> list[str]:
    """The words of `words` in pool `name` (TRAINING, TUNING or HELD_OUT), in their order."""
    return [w for w in words if pool_of(w) == name]


def spellable(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The texts whose every character is a label of the alphabet (space included)."""
    allowed = set(labels)
    return [t for t in texts if set(t) <= allowed]


def _swap(word: str, words: Sequence[str], similar: bool, rng: random.Random) -> str:
    """A word of `words` other than `word`; `similar`: one spelt nearly alike if any
    (light -> night, right), the near-misses a device mishears most."""
    others = [w for w in words if w != word]
    if similar:
        close = [w for w in others if edit_distance(w, word) <= max(1, len(word) // 3)]
        others = close or others
    return rng.choice(others)


def near_misses(
    commands: Sequence[str], per_command: int, words: Sequence[str], seed: int
) -> list[str]:
    """Up to `per_command` distinct phrases per command, each the command with one word
    replaced by a word of `words`, none of them a command. Seeded; the same arguments give
    the same phrases."""
    known = {" ".join(c.split()) for c in commands}
    phrases: list[str] = []
    for command in sorted(known):
        rng = random.Random(f"{seed}:{command}")
        tokens = command.split()
        mine: list[str] = []
        for attempt in range(per_command * 10):
            if len(mine) == per_command or not words:
                break
            position = rng.randrange(len(tokens))
            similar = attempt % 2 == 0 and rng.random() < SIMILAR_SHARE * 2
            changed = [*tokens]
            changed[position] = _swap(tokens[position], words, similar, rng)
            phrase = " ".join(changed)
            if phrase not in known and phrase not in mine and phrase not in phrases:
                mine.append(phrase)
        phrases += mine
    return phrases


def everyday_sentences(
    count: int, words: Sequence[str], seed: int, avoid: Sequence[str] = ()
) -> list[str]:
    """`count` distinct sequences of SENTENCE_WORDS words of `words`, frequent words more
    often (the first of `words` are the most frequent), none of them in `avoid`."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 10) for rank in range(len(words))]  # Zipf-like, flattened
    avoid_set = {" ".join(a.split()) for a in avoid}
    sentences: list[str] = []
    seen: set[str] = set()
    for _ in range(count * 10):
        if len(sentences) == count or not words:
            break
        sentence = " ".join(rng.choices(words, weights, k=rng.randint(*SENTENCE_WORDS)))
        if sentence not in seen and sentence not in avoid_set:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences
