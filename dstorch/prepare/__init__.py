"""Data preparation: recordings + commands.csv -> DeepSpeech training data in data/."""

from dstorch.prepare.prepare import PrepareResult, prepare
from dstorch.prepare.problems import PrepareError

__all__ = ["PrepareError", "PrepareResult", "prepare"]
