"""`make bench-vad`: does the voice-activity trim (dstorch/vad.py) help the official client
on clips padded with silence or room noise? Clips are rendered with a synthesizer engine
the model never heard (--engine); the trim is judged off and at each --aggressiveness, with
and without the scorer. See dstorch/bench/vad_trim.py for the conditions.
"""

import argparse
import os
import sys
from pathlib import Path

from dstorch.augment import cache
from dstorch.bench.vad_trim import format_rows, measure
from dstorch.config import ENV_FILE, ENV_PREFIX, PipelineConfig
from dstorch.entry import command_line, run_guarded
from dstorch.inference.official import fetch_library, load_library
from dstorch.prepare.sources import read_commands
from dstorch.prepare.synthetic import render

CLIP_SEED = 97  # other rates/pitches than any training take (as bench-generalisation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("build/bench-vad"))
    parser.add_argument("--model", type=Path, help="default: MODELS_DIR/MODEL_NAME.pbmm")
    parser.add_argument("--scorer", type=Path, help="default: the model's .scorer if any")
    parser.add_argument("--engine", default="festival", help="voices the model never heard")
    parser.add_argument("--clips", type=int, default=6, help="takes per command")
    parser.add_argument("--aggressiveness", default="2,3", help="webrtcvad modes to judge")
    args = parser.parse_args()
    overrides = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    config = PipelineConfig.load(args.root / ENV_FILE, overrides, root=args.root)
    model = args.model or args.root / config.models_dir / f"{config.model_name}.pbmm"
    scorer = args.scorer or model.with_suffix(".scorer")
    load_library(fetch_library(args.root / "build" / "deepspeech-0.9.3"))
    commands, _ = read_commands(args.root / config.commands_csv, config.language)
    cache.use_data_dir(args.out / "data")  # the babble bank for the noise conditions
    clips = render(args.engine, commands, args.out, config.language, args.clips, CLIP_SEED)
    modes = [int(a) for a in args.aggressiveness.split(",") if a]
    rows = measure(model, scorer if scorer.is_file() else None, clips, modes)
    print(format_rows(rows))


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
