"""The deterministic alpha/beta search of the scorer stage (no optuna dependency): the
space's starting point first, then a low-discrepancy sweep of the box, then shrinking
steps around the best point. The box and the start depend on LM_MODE (see
dstorch.training.tune)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dstorch.config import LM_COMMANDS, LM_OPEN
from dstorch.lm.scorer import COMMANDS_ALPHA, COMMANDS_BETA, DEFAULT_ALPHA, DEFAULT_BETA

EXPLORE_SHARE = 2 / 3  # of the trials sweep the box; the rest refine the best point


@dataclass(frozen=True)
class SearchSpace:
    """The alpha/beta box the search explores and where it starts (also the tie-break
    anchor, and the values an untuned scorer keeps)."""

    alpha_range: tuple[float, float]
    beta_range: tuple[float, float]
    start: tuple[float, float]


SEARCH_SPACES = {
    # lm_optimizer's lm_alpha_max is 5; a negative beta lets the search penalise words.
    LM_OPEN: SearchSpace((0.0, 5.0), (-2.0, 5.0), (DEFAULT_ALPHA, DEFAULT_BETA)),
    # No end-of-sentence term: beta is what makes a whole command beat its prefixes.
    LM_COMMANDS: SearchSpace((1.0, 5.0), (-1.0, 6.0), (COMMANDS_ALPHA, COMMANDS_BETA)),
}
OPEN_SPACE = SEARCH_SPACES[LM_OPEN]


def _halton(index: int, base: int) -> float:
    """index-th element of the van der Corput sequence in `base` (in [0, 1))."""
    result, fraction = 0.0, 1.0
    while index:
        fraction /= base
        index, digit = divmod(index, base)
        result += digit * fraction
    return result


def _point(space: SearchSpace, u: float, v: float) -> tuple[float, float]:
    """Unit square -> (alpha, beta), rounded so the stored values are the ones tried."""
    (a0, a1), (b0, b1) = space.alpha_range, space.beta_range
    return round(a0 + u * (a1 - a0), 3), round(b0 + v * (b1 - b0), 3)


def _unit(space: SearchSpace, alpha: float, beta: float) -> tuple[float, float]:
    (a0, a1), (b0, b1) = space.alpha_range, space.beta_range
    return (alpha - a0) / (a1 - a0), (beta - b0) / (b1 - b0)


def _distance_to_start(space: SearchSpace, alpha: float, beta: float) -> float:
    """Tie-break: tiny dev sets often tie; then stay near the space's starting point."""
    u, v = _unit(space, alpha, beta)
    du, dv = _unit(space, *space.start)
    return math.hypot(u - du, v - dv)


Objective = Callable[[float, float], tuple[float, float]]


def search(
    objective: Objective, trials: int, seed: int = 0, space: SearchSpace = OPEN_SPACE
) -> list[tuple]:
    """Minimise objective(alpha, beta) -> (wer, cer) over the space's box.

    Returns the trials in order as (wer, cer, distance to the start, alpha, beta); the
    first is the space's start. No early stop at a perfect trial: small dev sets are
    often perfect at many points, and the tie-break should pick the one nearest the
    start rather than the first found.
    """
    rng = np.random.default_rng(seed)
    explore = max(1, round(trials * EXPLORE_SHARE))
    done: list[tuple] = []
    for t in range(trials):
        if t == 0:
            alpha, beta = round(space.start[0], 3), round(space.start[1], 3)
        elif t < explore:
            alpha, beta = _point(space, _halton(t, 2), _halton(t, 3))
        else:  # steps shrink from a quarter to a twentieth of the box
            best_u, best_v = _unit(space, *min(done)[3:])
            share = (t - explore) / max(trials - explore - 1, 1)
            scale = 0.25 + (0.05 - 0.25) * share
            u, v = np.clip(np.array([best_u, best_v]) + rng.normal(0.0, scale, 2), 0.0, 1.0)
            alpha, beta = _point(space, float(u), float(v))
        wer, cer = objective(alpha, beta)
        done.append((wer, cer, _distance_to_start(space, alpha, beta), alpha, beta))
    return done
