"""Try: the page streams the microphone here in short chunks; each session runs its own
LiveRecogniser (dstorch.inference.live, as `make listen`) over the exported model in
MODELS_DIR, loaded once and again whenever a new export replaces it."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import numpy as np

from dstorch.config import PipelineConfig
from dstorch.features import SAMPLE_RATE
from dstorch.studio import StudioError

MAX_SESSIONS = 4  # open Try pages; the oldest goes when a fifth opens
MAX_CHUNK = SAMPLE_RATE * 2 * 5  # bytes: 5 s of audio in one request is a broken client


class TryService:
    def __init__(self, root: Path, config_path: Path):
        self.root, self.config_path = Path(root), Path(config_path)
        self.loaded: tuple | None = None  # (model mtime, transcriber, gate)
        self.sessions: dict[str, tuple[threading.Lock, object]] = {}
        self.lock = threading.Lock()

    def _model(self) -> tuple:
        from dstorch.inference.transcribe import Transcriber
        from dstorch.inference.transcribe_cli import load_gate

        config = PipelineConfig.load(self.config_path)
        base = self.root / config.models_dir / config.model_name
        model, scorer = base.with_suffix(".pbmm"), base.with_suffix(".scorer")
        if not model.is_file():
            raise StudioError(f"no model at {model}; train one first (Train page, or make run)")
        stamp = model.stat().st_mtime_ns
        if self.loaded is None or self.loaded[0] != stamp:
            transcriber = Transcriber(model, scorer if scorer.is_file() else None)
            self.loaded = (stamp, transcriber, load_gate(None, str(model)))
        return self.loaded[1], self.loaded[2]

    def open(self) -> str:
        from dstorch.inference.listen_cli import commands_of
        from dstorch.inference.live import LiveRecogniser

        with self.lock:
            transcriber, gate = self._model()
            commands = None if gate else commands_of(str(self.config_path))  # as make listen
            session = secrets.token_hex(8)
            self.sessions[session] = (threading.Lock(), LiveRecogniser(transcriber, gate, commands))
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.pop(next(iter(self.sessions)))
        return session

    def _get(self, session: str):
        found = self.sessions.get(session)
        if found is None:
            raise StudioError(f"try session {session!r} is closed; press Listen again")
        return found

    def feed(self, session: str, data: bytes) -> list[dict]:
        """Raw little-endian int16 PCM at 16 kHz -> the utterances that ended in it."""
        if len(data) > MAX_CHUNK or len(data) % 2:
            raise StudioError("try: send 16-bit PCM chunks of at most 5 s")
        lock, recogniser = self._get(session)
        with lock:
            found = recogniser.feed(np.frombuffer(data, "<i2").astype(np.int16))
        return [vars(u) for u in found]

    def close(self, session: str) -> list[dict]:
        lock, recogniser = self._get(session)
        with lock:
            found = recogniser.flush()
        self.sessions.pop(session, None)
        return [vars(u) for u in found]
