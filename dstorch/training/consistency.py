"""Consistency between two views of a clip (--consistency_weight; dstorch's, not DeepSpeech's).

Why: with a few hundred clips the model learns the voices and rooms it trains on, and in
babble it takes one command for another. Each clip is augmented twice, the views differing
in everything that keeps the duration (room, noise, level, pitch, masks): both are trained
with CTC, and each view's per-frame output distribution is pulled towards the other's (a
symmetric KL with the target detached, as in CR-CTC, Yao et al. 2024). The model so learns
to answer the same whatever room and noise surround the speech.
"""

from __future__ import annotations

from dataclasses import replace

import torch


def with_second_views(samples: list) -> list:
    """samples + their second views: [B] -> [2B], view 1 at i + B."""
    return samples + [replace(s, view=1) for s in samples]


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """[B] lengths -> [B, frames] float, 1 on a clip's real frames."""
    return (torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]).float()


def symmetric_kl(log_probs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """log_probs [2B, T, C] (views 0 then 1), lengths [2B] -> [B]: per clip, summed over
    its frames, 0.5 (KL(sg(p0) || p1) + KL(sg(p1) || p0)). Frames past the shorter view's
    length are left out (views line up unless an augmentation changed the duration)."""
    first, second = log_probs.chunk(2)
    both = torch.minimum(*lengths.chunk(2))
    mask = frame_mask(both, log_probs.shape[1])

    def kl(target: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        target = target.detach()
        return (target.exp() * (target - other)).sum(-1)  # [B, T]

    return 0.5 * ((kl(first, second) + kl(second, first)) * mask).sum(-1)


class Views:
    """What a training step trains on: each clip once (weight 0), or twice with the
    consistency term."""

    def __init__(self, weight: float):
        self.weight = weight

    def samples(self, clips: list) -> list:
        return with_second_views(clips) if self.weight else clips

    def per_clip(self, values: torch.Tensor) -> torch.Tensor:
        """A value of every sample of `samples(clips)` -> [B]: the mean of a clip's views."""
        return values.view(2, -1).mean(0) if self.weight else values

    def losses(
        self, ctc: torch.Tensor, log_probs: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward of `samples(clips)` -> ([B] CTC loss per clip, [B] what to minimise):
        with views, the mean of the two views' CTC losses plus the weight times their
        symmetric KL."""
        if not self.weight:
            return ctc, ctc
        mean = self.per_clip(ctc)
        return mean, mean + self.weight * symmetric_kl(log_probs, lengths)
