"""The shipped configuration.env as a PipelineConfig, for tests that change a few keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dstorch.config import ENV_FILE, PipelineConfig

ROOT = Path(__file__).resolve().parent.parent


def shipped_config(**overrides) -> PipelineConfig:
    """configuration.env (no environment overrides) with `overrides` (field names) applied."""
    config = PipelineConfig.load(ROOT / ENV_FILE, environ={}, root=ROOT)
    return dataclasses.replace(config, **overrides)
