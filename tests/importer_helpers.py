"""The importer tests' corpora: dstorch.bench.corpora builds them (make bench-import too)."""

from dstorch.bench.corpora import (
    SENTENCES,
    commonvoice_tree,
    ldc93s1_tree,
    librispeech_tree,
    speak,
)

__all__ = ["SENTENCES", "commonvoice_tree", "ldc93s1_tree", "librispeech_tree", "speak"]
