"""Commands as rivals (--discriminative_weight; dstorch's, not DeepSpeech's).

Why: CTC only raises the probability of what was said. A model trained on a few commands
learns their word sequences so well that "hall mark" still spells "call mark", and "turn
off" in a voice it never heard reads "turn on": even the near-misses it trains on came out
as the nearest command about half the time after 80 epochs. This term also lowers the
rivals: for every clip, the commands nearest its transcript are scored by CTC on the same
output, and the loss is minus the log posterior of the transcript among itself and those
rivals (MMI, Bahl et al. 1986, over a small set of competitors). A clip whose rivals are
already far from it adds next to nothing; a clip the model confuses adds the gradient that
pulls its transcript and the nearest command apart.
"""

from __future__ import annotations

import torch

from dstorch.alphabet import ctc_steps_needed
from dstorch.training.evaluate import edit_distance

# The commands nearest a transcript (in letters) that compete with it. The swaps that cost
# are between near commands; a far one's posterior is ~0 and would only add CTC time.
RIVALS = 4


class Rivals:
    """The commands (transcript -> labels) and the term that keeps them apart."""

    def __init__(self, commands: dict[str, list[int]], weight: float, blank: int):
        self.commands = commands
        self.weight = weight
        self.blank = blank
        self._nearest: dict[str, list[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.weight) and len(self.commands) > 1

    def of(self, transcript: str) -> list[str]:
        """The RIVALS commands nearest `transcript`, itself left out (ties: by text)."""
        if transcript not in self._nearest:
            others = [c for c in self.commands if c != transcript]
            others.sort(key=lambda c: (edit_distance(transcript, c), c))
            self._nearest[transcript] = others[:RIVALS]
        return self._nearest[transcript]

    def losses(
        self, ctc: torch.Tensor, log_probs: torch.Tensor, lengths: torch.Tensor, samples: list
    ) -> torch.Tensor:
        """ctc [B] (each clip's CTC loss, -log p(transcript)), log_probs [B, T, C], lengths
        [B], the B samples -> [B]: weight * -log of the transcript's posterior among itself
        and its rivals, log(1 + sum_r p(r) / p(transcript)). Rivals a clip is too short to
        spell are left out."""
        frames = lengths.tolist()  # one device sync, not one per rival
        pairs = [
            (i, self.commands[r])
            for i, s in enumerate(samples)
            for r in self.of(s.transcript)
            if ctc_steps_needed(self.commands[r]) <= frames[i]
        ]
        if not pairs:
            return ctc.new_zeros(len(samples))
        clip = torch.tensor([i for i, _ in pairs], device=log_probs.device)
        labels = [y for _, y in pairs]
        rival_nll = torch.nn.functional.ctc_loss(
            log_probs[clip].transpose(0, 1),  # [T, P, C]
            torch.tensor([x for y in labels for x in y], device=log_probs.device),
            lengths.to(log_probs.device)[clip],
            torch.tensor([len(y) for y in labels], device=log_probs.device),
            blank=self.blank,
            reduction="none",
        )
        # log p(rival) - log p(transcript), one column per rival, then a 0 for the transcript.
        ratios = torch.full((len(samples), RIVALS + 1), float("-inf"), device=ctc.device)
        ratios[:, RIVALS] = 0.0
        column = _column_in_clip(clip)
        ratios = ratios.index_put((clip, column), ctc[clip] - rival_nll)
        return self.weight * ratios.logsumexp(-1)


def _column_in_clip(clip: torch.Tensor) -> torch.Tensor:
    """[P] clip index of each pair, grouped -> [P] the pair's place among its clip's."""
    first = torch.searchsorted(clip, clip)  # where each clip's run of pairs starts
    return torch.arange(len(clip), device=clip.device) - first


def rivals_of(train_set: list, weight: float, blank: int) -> Rivals:
    """The commands are what --train_files says (speech that is no command lives apart, in
    --speech_files)."""
    commands = {s.transcript: list(s.labels) for s in train_set}
    return Rivals(commands, weight, blank)
