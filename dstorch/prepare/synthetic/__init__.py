"""Synthetic voices: command sentences spoken by installed speech synthesizers.

Recorded takes come from one to a few people; the next person to speak sounds different.
Renditions by many synthetic voices (espeak-ng, flite, festival; SYNTHETIC_VOICES) widen
what the model hears in training. Takes live in data/synthetic/, never in original/.
"""

from dstorch.prepare.synthetic.base import Engine, Take
from dstorch.prepare.synthetic.catalog import ENGINES, choose
from dstorch.prepare.synthetic.render import render

__all__ = ["ENGINES", "Engine", "Take", "choose", "render"]
