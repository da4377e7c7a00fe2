"""Live recognition: a stream of 16 kHz audio in, one result per spoken utterance out.

`LiveRecogniser` endpoints the stream with webrtcvad, with dstorch.vad's settings (the
same FRAME, MIN_RUN, HANGOVER, MARGIN and WARMUP that trim a whole clip, so a live
utterance is the span `speech_span` would cut from it), recognises each utterance with the
lean inference path (Transcriber: the exported model in NumPy and the project scorer) and
lets the gate beside the model say whether it is a command. `dstorch listen` (the terminal)
and the studio's Try page both run it.

The utterance is fed to a decoding stream while it is still being spoken, so when the
endpointer decides that speech has ended only the stream's last batch and the final beam
decode remain: that is the latency `make bench` reports (scripts/bench_listen.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstorch.rejection import Gate, normalise
from dstorch.vad import AGGRESSIVENESS, FRAME, HANGOVER, MARGIN, MIN_RUN, SAMPLE_RATE, WARMUP

# A command is a few seconds; an utterance running longer (talk, a noisy room) is cut here
# so memory and the decode stay bounded. It is answered like any other utterance.
MAX_UTTERANCE = 10.0  # seconds
FRAMES_PER_SECOND = SAMPLE_RATE / FRAME
MIN_RUN_FRAMES = round(MIN_RUN * FRAMES_PER_SECOND)
HANGOVER_FRAMES = round(HANGOVER * FRAMES_PER_SECOND)
WARMUP_FRAMES = round(WARMUP * FRAMES_PER_SECOND)
PAD = round(MARGIN * SAMPLE_RATE)  # samples kept before and after the speech
# Early endpoint: after this much silence an utterance that is already a command the gate
# accepts, and that no longer command continues, is answered without waiting out
# HANGOVER (which only guards pauses inside a command). Anything else still waits, so a
# pause in "turn on ... the light" or "mirror ... off" does not cut the command. 60 ms: two
# VAD frames, past the frame that may straddle the end of the word.
EARLY_SILENCE = 0.06  # seconds
EARLY_FRAMES = round(EARLY_SILENCE * FRAMES_PER_SECOND)


@dataclass(frozen=True)
class Utterance:
    """One recognised utterance: the best transcript, the command to act on (None: no
    command, or the gate rejected it), the client's confidence, its span in the stream
    (seconds from the first sample fed)."""

    text: str
    command: str | None
    confidence: float | None
    start: float
    end: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "command": self.command,
                "confidence": self.confidence,
                "start": round(self.start, 3),
                "end": round(self.end, 3),
            },
            ensure_ascii=False,
        )


class LiveRecogniser:
    """feed(int16 chunks) -> the utterances that ended in them; flush() at the end.

    transcriber: a dstorch.inference.transcribe.Transcriber; gate: the model's confidence
    gate or None; commands: without a gate, the sentences that count as commands (exact
    match after normalising spaces); with neither, every answer's command is None.
    """

    def __init__(
        self,
        transcriber,
        gate: Gate | None = None,
        commands: Collection[str] | None = None,
        aggressiveness: int = AGGRESSIVENESS,
    ):
        import webrtcvad  # a C extension: only live recognition needs it loaded

        self.transcriber = transcriber
        self.gate = gate
        self.commands = {normalise(c) for c in commands or ()}
        every = set(gate.commands if gate else ()) | self.commands
        # commands that a longer one begins with: never answered early
        self.prefixes = {c for c in every if any(o.startswith(c + " ") for o in every)}
        self.num_results = gate.num_results if gate else 1
        self.vad = webrtcvad.Vad(aggressiveness)
        self.buffer = np.zeros(0, np.int16)  # audio from sample `buffer_start` on
        self.buffer_start = 0
        self.frames = 0  # whole frames judged so far
        self.run = 0  # speech frames in a row up to the last judged frame
        self.stream = None  # the decoding stream of the utterance in progress, if any
        self.start = 0  # first sample of the utterance in progress
        self.fed = 0  # samples of it given to the stream so far (absolute index)
        self.last_speech = 0  # end frame of its last speech run of MIN_RUN frames or more

    @property
    def samples(self) -> int:
        """Samples received so far."""
        return self.buffer_start + len(self.buffer)

    def feed(self, pcm: np.ndarray) -> list[Utterance]:
        """Append int16 mono 16 kHz samples [N]; -> the utterances that ended in them."""
        pcm = np.asarray(pcm)
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise ValueError(f"live audio must be mono int16 [N], got {pcm.dtype} {pcm.shape}")
        self.buffer = np.concatenate([self.buffer, pcm])
        done = []
        while (self.frames + 1) * FRAME <= self.samples:
            result = self._judge_frame()
            if result is not None:
                done.append(result)
        self._advance()
        return done

    def flush(self) -> list[Utterance]:
        """The end of the input: the utterance in progress, if any, ends here."""
        if self.stream is None:
            return []
        return [self._finish(min(self.samples, self.last_speech * FRAME + PAD))]

    def _audio(self, begin: int, end: int) -> np.ndarray:
        return self.buffer[begin - self.buffer_start : end - self.buffer_start]

    def _judge_frame(self) -> Utterance | None:
        """webrtcvad on the next whole frame; starts or ends an utterance."""
        index = self.frames
        frame = self._audio(index * FRAME, (index + 1) * FRAME)
        speech = index >= WARMUP_FRAMES and self.vad.is_speech(frame.tobytes(), SAMPLE_RATE)
        self.frames += 1
        self.run = self.run + 1 if speech else 0
        if self.run >= MIN_RUN_FRAMES:  # a run long enough to be a word, not a blip
            if self.stream is None:
                self._begin(max(0, (self.frames - self.run) * FRAME - PAD))
            self.last_speech = self.frames
        if self.stream is None:
            return None
        end = self.last_speech * FRAME + PAD
        pause = self.frames - self.run - self.last_speech
        # Over when the pause since the last word passed HANGOVER and no run that started
        # inside it is still going (it could yet become a word of the same utterance).
        if pause > HANGOVER_FRAMES:
            return self._finish(end)
        if pause == EARLY_FRAMES and self.run == 0:
            return self._early()
        if end - self.start >= MAX_UTTERANCE * SAMPLE_RATE:
            return self._finish(min(end, self.frames * FRAME))
        return None

    def _begin(self, start: int) -> None:
        self.stream = self.transcriber.stream()
        self.start = self.fed = max(start, self.buffer_start)

    def _advance(self) -> None:
        """Feed the stream what surely belongs to the utterance (up to the last speech and
        its margin), and drop audio no utterance can still reach back to."""
        if self.stream is not None:  # all of it: an early look may have to start over
            self._feed_until(min(self.samples, self.last_speech * FRAME + PAD))
            keep_from = self.start
        else:  # the pre-roll a run starting now would reach back to
            keep_from = self.frames * FRAME - (MIN_RUN_FRAMES + 1) * FRAME - PAD
        cut = max(0, keep_from - self.buffer_start)
        if cut:
            self.buffer, self.buffer_start = self.buffer[cut:], self.buffer_start + cut

    def _feed_until(self, end: int) -> None:
        if end > self.fed:
            self.stream.feed(self._audio(self.fed, end))
            self.fed = end

    def _early(self) -> Utterance | None:
        """The answer now, if it is a command to act on that nothing longer begins with;
        otherwise the utterance goes on in a new stream over its audio so far."""
        end = self.frames * FRAME
        self._feed_until(end)
        candidates = self.stream.finish(self.num_results)
        answer = self._answer(candidates, end)
        if answer.command is not None and answer.command not in self.prefixes:
            self.stream = None
            return answer
        self.stream = self.transcriber.stream()
        self.stream.feed(self._audio(self.start, end))
        self.fed = end
        return None

    def _finish(self, end: int) -> Utterance:
        self._feed_until(end)
        candidates = self.stream.finish(self.num_results)
        self.stream = None
        return self._answer(candidates, end)

    def _answer(self, candidates: list, end: int) -> Utterance:
        """The utterance from self.start to `end` with the decoder's `candidates`."""
        seconds = (end - self.start) / SAMPLE_RATE
        text = candidates[0].text if candidates else ""
        confidence = candidates[0].confidence if candidates else -math.inf
        if self.gate is not None:
            command = self.gate.command(candidates, seconds)
        else:
            command = normalise(text) if normalise(text) in self.commands else None
        return Utterance(
            text,
            command,
            float(confidence) if math.isfinite(confidence) else None,
            self.start / SAMPLE_RATE,
            end / SAMPLE_RATE,
        )


def load_recogniser(model: str | Path, scorer: str | Path | None, gate: Gate | None, **kw):
    """A LiveRecogniser over the exported model (and scorer) with `gate`."""
    from dstorch.inference.transcribe import Transcriber

    return LiveRecogniser(Transcriber(model, scorer), gate, **kw)
