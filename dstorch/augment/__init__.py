"""Data augmentation with DeepSpeech 0.9.3's `--augment name[key=value,...]` syntax.

    augmenter = Augmenter(parse_augmentations(["reverb[p=0.3,delay=50~30]", "add[stddev=2]"]),
                          seed=config.random_seed)
    rng = augmenter.rng(epoch, sample_index, pass_index)
    samples = augmenter.apply_audio(samples, clock, rng)    # [N] -> [N'] float32
    mfcc = augmenter.apply_features(mfcc, clock, rng)       # [T, 26] -> [T, 26] float32

Audio-domain: overlay, reverb, gaps, resample, codec, volume, pitch, tempo, and for voice
differences vtlp, tilt, eq (and time_mask,
dropout, add, multiply with domain=signal). Feature-domain (MFCC frames): time_mask,
frequency_mask, dropout, add, multiply. See `help_text()` for keys and defaults.
"""

from dstorch.augment.core import (
    AugmentedFeatures,
    Augmenter,
    clock_for,
    quantize,
    rng_for,
)
from dstorch.augment.params import AUDIO, FEATURES, Augmentation, AugmentError, ValueRange, pick
from dstorch.augment.parse import (
    REGISTRY,
    help_text,
    parse_augmentation,
    parse_augmentations,
    split_specs,
)
from dstorch.augment.preview import inaudible, preview

__all__ = [
    "AUDIO",
    "FEATURES",
    "REGISTRY",
    "AugmentError",
    "Augmentation",
    "AugmentedFeatures",
    "Augmenter",
    "ValueRange",
    "clock_for",
    "help_text",
    "inaudible",
    "parse_augmentation",
    "parse_augmentations",
    "pick",
    "preview",
    "quantize",
    "rng_for",
    "split_specs",
]
