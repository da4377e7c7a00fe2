"""The test phase's acting figures: the test commands and the test negatives (speech that
is no command, noise; TEST_NEGATIVE_FILES) decoded as the client would, each clip with its
best candidates, for report.json's "acting" section (report_schema.ActingReport).

Decoding is our client-parity beam search with the exported scorer, like the test
phase's "scorer" figures; the candidates are what the client's sttWithMetadata returns,
so the gate beside the model (<MODEL_NAME>.gate.json) and its trade-off can be judged
from report.json alone (dstorch.report.acting).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import soundfile

from dstorch.outcomes import judge_clips, tally
from dstorch.rejection import Gate, gate_path, normalise
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.evaluate import Output, forward_all
from dstorch.training.report_schema import ActingReport, ClipCandidates

if TYPE_CHECKING:
    import torch

    from dstorch.alphabet import Alphabet
    from dstorch.config import TrainConfig
    from dstorch.lm.scorer import Scorer
    from dstorch.model import DeepSpeech

CANDIDATES = 2  # at least: the gate's margin measure compares the best two


def exported_gate(config: TrainConfig) -> Gate | None:
    """The gate the scorer stage wrote beside the model, if any."""
    if not config.export_dir:
        return None
    path = gate_path(Path(config.export_dir) / f"{config.export_file_name}.pbmm")
    return Gate.load(path) if path.is_file() else None


def _clip(output: Output, negative: bool, decode: Callable) -> ClipCandidates:
    found = decode(output.log_probs)
    candidates = [(c.text, c.confidence if math.isfinite(c.confidence) else None) for c in found]
    seconds = soundfile.info(str(output.sample.wav)).duration
    return ClipCandidates(
        str(output.sample.wav), output.sample.transcript, negative, seconds, candidates
    )


def acting_report(
    config: TrainConfig,
    model: DeepSpeech,
    alphabet: Alphabet,
    outputs: list[Output],
    scorer: Scorer | None,
    device: torch.device,
) -> ActingReport:
    """Decode the test commands (`outputs`, forwarded already) and the test negatives with
    `scorer` (None: without one) at the export beam width; the commands are the test set's
    sentences and the gate's."""
    from dstorch.decoder import beam_search

    negatives = read_csvs(config.test_negative_files, alphabet, allow_empty=True, silent=True)
    negative_outputs = forward_all(
        model, negatives, FeatureCache(), config.test_batch_size, device, desc="Test negatives"
    )
    gate = exported_gate(config)
    wanted = max(CANDIDATES, gate.num_results if gate else 1)

    def decode(log_probs):
        return beam_search(
            log_probs, alphabet.labels, config.export_beam_width, scorer, num_results=wanted
        )

    commands = {normalise(o.sample.transcript) for o in outputs} | set(
        gate.commands if gate else ()
    )
    clips = [_clip(o, False, decode) for o in outputs]
    clips += [_clip(o, True, decode) for o in negative_outputs]
    gate_fields = asdict(gate) | {"commands": list(gate.commands)} if gate else None
    decoder = "scorer" if scorer is not None else "no_scorer"
    report = ActingReport(decoder, sorted(commands), clips, gate_fields)
    print(acting_line(report))
    return report


def acting_line(report: ActingReport) -> str:
    """One line for the job's output: outcomes on commands, false accepts on negatives."""
    t = tally(judge_clips(report.clips), report.commands)
    shares = ", ".join(
        f"{name} {t.share(n):.0%}" if t.positives else f"{name} n/a"
        for name, n in (("right", t.right), ("wrong", t.wrong), ("rejected", t.rejected))
    )
    per_hour = t.false_accepts_per_hour
    accepts = "no negatives"
    if t.negatives:
        accepts = f"false accepts {t.false_accept_share:.0%} of {t.negatives} negatives"
        accepts += f" ({per_hour:.0f} per hour)" if per_hour is not None else ""
    return f"Test acting ({report.decoder}, no gate): {shares} of {t.positives} commands; {accepts}"
