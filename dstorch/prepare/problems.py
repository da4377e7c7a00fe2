"""What goes wrong while preparing data: an error that stops it (PrepareError), a file that
is skipped and reported (FileProblem, by code), and the fix for each code (PROBLEMS)."""

from __future__ import annotations

from dstorch.errors import DstorchError


class PrepareError(DstorchError, ValueError):
    """A problem that stops data preparation; the one-line message names the file and fix."""


class FileProblem(Exception):
    """A per-file problem: the file is skipped and reported, the run goes on."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# The fix per problem code, for the summary table (the per-file lines carry the specifics).
PROBLEMS = {
    "unreadable": "not readable as audio: re-export as WAV or remove it",
    "empty": "no audio samples: re-record or remove it",
    "silent": "digital silence only: check the microphone, re-record",
    "no_speech": "near-silence only: check the microphone, re-record",
    "truncated": "shorter than its header says: copy or export it again",
    "name_too_long": "file name too long for its copy: shorten it",
    "too_short": "shorter than MIN_DURATION: re-record or lower MIN_DURATION",
    "too_long": "longer than MAX_DURATION: trim it or raise MAX_DURATION",
    "transcript_too_long": "clip too short for its transcript: re-record it slower",
    "no_id": "no id in the file name: rename it or set FILENAME_PATTERN",
    "unknown_id": "id not in commands.csv: add a row for it",
    "empty_transcript": "empty transcript in commands.csv: fill it in",
    "bad_chars": "transcript characters outside the alphabet: fix either",
    "duplicate_audio": "same content as another file: remove one copy",
    "synth_failed": "a speech synthesizer failed: see its line above",
}
