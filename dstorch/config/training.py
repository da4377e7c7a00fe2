"""Trainer flags: TrainingFlags (shared with configuration.env) and TrainConfig, with
DeepSpeech.py 0.9.3's names and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from dstorch.config.fields import (
    COUNT,
    DEVICE,
    FRACTION,
    NAME,
    PATH,
    POSITIVE,
    SHA256,
    SIZE,
    SNRS,
    WIDTH,
    Range,
    key,
    validate,
)
from dstorch.datafiles import ALPHABET_FILE

# DeepSpeech.py's --export_beam_width default: the beam width an exported model carries,
# which the client decodes with unless told otherwise.
DEFAULT_BEAM_WIDTH = 500
# DeepSpeech.py's --n_steps default: time steps per call of an exported model (its
# input_node shape), and --export_file_name's: the exported model's file name.
DEFAULT_N_STEPS = 16
DEFAULT_EXPORT_NAME = "output_graph"


@dataclass
class TrainingFlags:
    """DeepSpeech.py flags that configuration.env sets too (same names, DeepSpeech's
    defaults); both TrainConfig and PipelineConfig carry them."""

    train_batch_size: int = key("clips in a training batch", SIZE, 1)
    dev_batch_size: int = key("clips in a dev (validation) batch", SIZE, 1)
    test_batch_size: int = key("clips in a test batch", SIZE, 1)
    learning_rate: float = key("learning rate of the Adam optimiser", COUNT, 0.001)
    dropout_rate: float = key("dropout rate of the dense layers", FRACTION, 0.05)
    n_hidden: int = key("width of the hidden layers (the model size)", WIDTH, 2048)
    relu_clip: float = key("ReLU clipping value of the dense layers", POSITIVE, 20.0)
    early_stop: bool = key("stop when the dev loss stops improving (ES_EPOCHS)", None, False)
    es_epochs: int = key("epochs without dev-loss improvement before stopping", SIZE, 25)
    es_min_delta: float = key("smallest dev-loss decrease that counts", COUNT, 0.05)
    reduce_lr_on_plateau: bool = key("reduce the learning rate on dev-loss plateaus", None, False)
    plateau_epochs: int = key("epochs without improvement that make a plateau", SIZE, 10)
    plateau_reduction: float = key(
        "factor applied to the learning rate on a plateau", Range(0, 1, True, True), 0.1
    )
    checkpoint_secs: int = key(
        "also save a checkpoint every this many seconds; 0: after every step", COUNT, 600
    )
    max_to_keep: int = key("checkpoints to keep; 0 keeps all (as in DeepSpeech)", COUNT, 5)
    export_beam_width: int = key(
        "beam width stored in the exported model", SIZE, DEFAULT_BEAM_WIDTH
    )
    export_tflite: bool = key(
        "also export MODEL_NAME.tflite for the deepspeech-tflite client", None, False
    )
    export_onnx: bool = key(
        "also export <name>.onnx: features and LSTM state in, logits and state out", None, False
    )
    random_seed: int = key("seeds everything; resume is exact", COUNT, 4568)
    automatic_mixed_precision: bool = key("bf16 autocast on CUDA", None, False)
    augmentations_per_epoch: int = key("augmented passes over the training set", SIZE, 1)
    speech_per_epoch: float = key(
        "speech that is no command (--speech_files) trained each epoch, as a share of the "
        "--train_files clips: the next part of one seeded order, so every sentence comes "
        "round; 0: all of it every epoch",
        COUNT,
        0.0,
    )
    ema_decay: float = key(
        "exponential moving average of the weights, used for dev loss, best.pt and export "
        "(0.99: about the last 100 steps); 0: off, the raw weights as in DeepSpeech",
        FRACTION,
        0.0,
    )
    consistency_weight: float = key(
        "train on two augmented views of every clip (room, noise, level, pitch and masks "
        "drawn twice) and add this weight times the symmetric KL between their per-frame "
        "outputs to the CTC loss (CR-CTC); each step costs about twice as much; 0 (or no "
        "AUGMENT): off",
        COUNT,
        0.0,
    )
    discriminative_weight: float = key(
        "also lower the commands nearest each clip's transcript: add this weight times minus "
        "the log posterior of the transcript among itself and its nearest commands, all "
        "scored by CTC (MMI over rivals), so commands one word apart and near-misses are "
        "told apart; 0: off, CTC alone as in DeepSpeech",
        COUNT,
        0.0,
    )
    dev_snrs: str = key(
        "also measure the dev loss with the dev set in a simulated room with noise at these "
        "SNRs (dB, comma-separated) and average: best.pt, early stop and plateaus then favour "
        "a model that holds up in noise; empty: the clean dev set only (as in DeepSpeech)",
        SNRS,
        "",
    )
    drop_source_layers: int = key(
        "top layers of the pretrained model re-initialised (1: the output layer; 5: all "
        "but layer_1)",
        Range(0, 5),
        0,
    )
    bytes_output_mode: bool = key(
        "the model outputs UTF-8 bytes (256 classes), not ALPHABET letters; a UTF-8 scorer",
        None,
        False,
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class TrainConfig(TrainingFlags):
    """Trainer flags, named and defaulted as in DeepSpeech.py 0.9.3."""

    train_files: str = key("comma-separated training CSVs", None, "")
    dev_files: str = key("comma-separated dev CSVs (early stopping, plateaus)", None, "")
    test_files: str = key("comma-separated test CSVs", None, "")
    speech_files: str = key(
        "comma-separated CSVs of speech that is no command (dstorch's), trained beside "
        "--train_files (--speech_per_epoch of it each epoch)",
        None,
        "",
    )
    dev_negative_files: str = key(
        "comma-separated CSVs of speech that is no command (dstorch's): the scorer stage "
        "tunes rejection and calibrates the gate on them with the dev set",
        None,
        "",
    )
    test_negative_files: str = key(
        "comma-separated CSVs of speech that is no command (dstorch's): the test report "
        "counts false accepts on them",
        None,
        "",
    )
    epochs: int = key("epochs to train in total", SIZE, 75)
    checkpoint_dir: str = key("where checkpoints are loaded from and saved", PATH, "checkpoints")
    load_checkpoint_dir: str = key("load from here instead of --checkpoint_dir", None, "")
    save_checkpoint_dir: str = key("save here instead of --checkpoint_dir", None, "")
    load_checkpoint: bool = key("resume from the newest checkpoint", None, True)
    alphabet_config_path: str = key("the alphabet.txt", PATH, ALPHABET_FILE)
    export_dir: str = key("write .pb and .pbmm here; empty: no export", None, "")
    export_file_name: str = key("file name of the exported model", NAME, DEFAULT_EXPORT_NAME)
    n_steps: int = key("time steps per exported inference window", SIZE, DEFAULT_N_STEPS)
    augment: list[str] = key("an augmentation SPEC (repeatable)", None, [])
    summary_dir: str = key("TensorBoard event files; empty: none", None, "")
    test_output_file: str = key("write the test report (JSON) here", None, "")
    device: str = key("torch device", DEVICE, "auto")
    initialize_from_frozen_model: str = key(
        "start a fresh run from this .pbmm/.pb or dstorch checkpoint (path or URL)", None, ""
    )
    pretrained_sha256: str = key("expected SHA-256 of the pretrained model", SHA256, "")

    @property
    def load_dir(self) -> str:
        return self.load_checkpoint_dir or self.checkpoint_dir

    @property
    def save_dir(self) -> str:
        return self.save_checkpoint_dir or self.checkpoint_dir

    def data_files(self) -> list[str]:
        """The files a run's result depends on (CSVs, alphabet), in a fixed order: their
        digest in state.json tells a finished run's data from new data."""
        lists = (self.train_files, self.speech_files, self.dev_files, self.test_files)
        return [f for files in lists for f in files.split(",") if f] + [self.alphabet_config_path]

    def dev_snr_list(self) -> list[float]:
        """--dev_snrs as numbers (dB)."""
        return [float(x) for x in self.dev_snrs.split(",") if x]

    def geometry(self) -> dict:
        """The settings a checkpoint's tensors depend on."""
        return {"n_hidden": self.n_hidden}
