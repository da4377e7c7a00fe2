"""Data preparation: recordings + commands.csv -> DeepSpeech training data in data/."""

from dstorch.pipeline.prepare import PrepareResult, prepare
from dstorch.pipeline.report import PrepareError

__all__ = ["PrepareError", "PrepareResult", "prepare"]
