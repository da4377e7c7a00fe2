"""`make studio`: record commands, train and try the model from a browser.

A small Starlette app served by uvicorn on STUDIO_HOST:STUDIO_PORT (127.0.0.1 by default):
the pages are plain HTML/JS in static/ (the microphone through getUserMedia and an
AudioWorklet), the API lives in app.py, and each concern has its module: commands.csv
(table.py), the takes in ORIGINAL_DIR/LANGUAGE (takes.py), training through the runner
(training.py), live recognition for Try (tryout.py, dstorch.inference.live), and the token
that guards every request (security.py).
"""

from __future__ import annotations

from dstorch.errors import DstorchError


class StudioError(DstorchError, ValueError):
    """A request the studio refuses; the message names the file or field and the fix."""
