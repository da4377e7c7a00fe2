# dstorch: train a DeepSpeech model from your own recordings.
# configuration.env holds every setting; `make KEY=value` overrides one for that command.

SHELL := /bin/bash
# Fixed here (not ?=): an unrelated VENV or CONFIG in the environment must not redirect make;
# `make VENV=...` on the command line still can.
VENV := .venv
PYTHON := $(VENV)/bin/python
DSTORCH := $(PYTHON) -m dstorch
KENLM_DIR := build/kenlm
CONFIG := configuration.env

# Every variable given on the command line (`make MAX_EPOCH=30`) reaches dstorch as
# DSTORCH_MAX_EPOCH through the environment, its text unexpanded and never pasted into a shell
# line; dstorch reads configuration.env and DSTORCH_* only, so a desktop's LANGUAGE or LANG
# cannot change the configuration. Sub-makes see the same variables again through MAKEFLAGS.
$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),\
	$(eval export DSTORCH_$(v) := $$(value $(v)))))

# Each step needs the one before (prepare before build, build before run): `make -j` would
# otherwise train on half-prepared data. The steps parallelise inside themselves instead.
.NOTPARALLEL:

.DEFAULT_GOAL := all
.PHONY: help all dependencies kenlm kernel volumes prepare build run log status stop rebuild \
	reset export report transcribe listen studio preview config system-packages test test-fast lint format bench \
	bench-generalisation bench-faults example-data clean distclean pretrained pretrain \
	bench-transfer import train-import bench-import bench-vad

help: ## List every target
	@echo "Usage: make [target] [KEY=value ...]   (keys: see configuration.env)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

all: volumes build run ## Prepare data, build and start training detached (default goal)

dependencies: system-packages $(VENV)/.installed kenlm kernel ## System packages, .venv with pinned packages, KenLM, the decoder kernel
	@echo "Dependencies ready."

system-packages: ## Install missing system packages (apt-get; sudo when not root; part of dependencies)
	@bash scripts/system_packages.sh

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

kenlm: $(KENLM_DIR)/bin/lmplz ## Build KenLM's lmplz and build_binary (part of dependencies)

$(KENLM_DIR)/bin/lmplz:
	bash scripts/build_kenlm.sh $(KENLM_DIR)

# Always run: the script names the library by a hash of its sources and keeps one already
# built, so after an edit or a pull this compiles exactly when needed (build/ctc_kernel).
kernel: ## Compile the decoder's C kernel, which every beam search loads (part of dependencies)
	python3 dstorch/decoder/kernel/build.py

volumes: ## Create the Docker volumes (nothing to do for the local runner)
	@$(DSTORCH) volumes --config $(CONFIG)

prepare: ## Convert original/ + commands.csv into data/ (train/dev/test CSVs, alphabet)
	@$(DSTORCH) prepare --config $(CONFIG)

build: prepare ## Prepare data and build the trainer (renders Dockerfile, builds the image)
	@$(DSTORCH) build --config $(CONFIG)

run: ## Start or resume training, detached (GPUS=all: every GPU, through torchrun)
	@$(DSTORCH) run --config $(CONFIG)

log: ## Follow the training output until the run ends
	@$(DSTORCH) log --config $(CONFIG)

status: ## One line: state, runner, epoch/max epoch, best dev loss
	@$(DSTORCH) status --config $(CONFIG)

stop: ## Pause training gracefully (resume with make run)
	@$(DSTORCH) stop --config $(CONFIG)

reset: ## Forget the run's checkpoints and state (CURRENT_EPOCH=0): the next make run starts fresh
	@$(DSTORCH) reset --config $(CONFIG)

rebuild: ## Re-process data and restart (NEW_DATA=yes LOAD_FROM_CHECKPOINT=no starts fresh)
	@$(DSTORCH) rebuild --config $(CONFIG)

export: ## Install the exported model (.pb, .pbmm, .tflite with EXPORT_TFLITE=yes, .scorer, alphabet, report) into models/, replacing only its own files
	@$(DSTORCH) fetch --config $(CONFIG)

report: ## Show where the evaluation report (models/report.html) is, with a summary
	@$(DSTORCH) report --config $(CONFIG)

# AUDIO reaches the recipe as $$DSTORCH_AUDIO (see above): quoted by the shell, never parsed.
transcribe: ## Transcribe AUDIO=file.wav (or a folder) with the exported model
	@test -n "$${DSTORCH_AUDIO:-}" || { echo "error: give AUDIO=path/to/file.wav"; exit 2; }
	@$(DSTORCH) transcribe --config $(CONFIG) --audio "$$DSTORCH_AUDIO"

# INPUT reaches the recipe as $$DSTORCH_INPUT (see above): quoted by the shell, never parsed.
listen: ## Recognise live from the microphone (or INPUT=file.wav, INPUT=- raw PCM): a JSON line per utterance
	@$(DSTORCH) listen --config $(CONFIG) $${DSTORCH_INPUT:+--input "$$DSTORCH_INPUT"}

studio: ## Web app to record commands, train and try the model in a browser (STUDIO_HOST, STUDIO_PORT)
	@$(DSTORCH) studio --config $(CONFIG)

preview: ## Write augmented copies of AUDIO=file.wav (uses AUGMENT) to augment-preview/
	@test -n "$${DSTORCH_AUDIO:-}" || { echo "error: give AUDIO=path/to/file.wav"; exit 2; }
	@$(DSTORCH) preview --config $(CONFIG) "$$DSTORCH_AUDIO"

pretrained: ## Download PRETRAINED_MODEL (a URL) into ~/.cache/dstorch and check it can be used
	@$(DSTORCH) pretrained --config $(CONFIG)

pretrain: ## Build a base model for LANGUAGE from synthetic speech (a PRETRAINED_MODEL; resumable)
	@$(DSTORCH) pretrain --config $(CONFIG)

config: ## Show the effective configuration (configuration.env + KEY=value), checked
	@$(DSTORCH) config --config $(CONFIG)

# Public corpora (dstorch/importers/). CORPUS and SOURCE reach the recipes as $$DSTORCH_*
# (see above): quoted by the shell, never parsed. Output: imports/<CORPUS>/.
import: ## Import a corpus: CORPUS=commonvoice|librispeech|ldc93s1|folder SOURCE=path [LIMIT=N]
	@test -n "$${DSTORCH_CORPUS:-}" -a -n "$${DSTORCH_SOURCE:-}" || \
		{ echo "error: give CORPUS=<commonvoice|librispeech|ldc93s1|folder> SOURCE=path"; exit 2; }
	@$(DSTORCH) import "$$DSTORCH_CORPUS" "$$DSTORCH_SOURCE" --out "imports/$$DSTORCH_CORPUS" \
		$${DSTORCH_LIMIT:+--limit "$$DSTORCH_LIMIT"}

train-import: ## Train on imports/CORPUS (settings from configuration.env; KEY=value overrides)
	@test -n "$${DSTORCH_CORPUS:-}" || { echo "error: give CORPUS=<name>"; exit 2; }
	@$(DSTORCH) train-import "imports/$$DSTORCH_CORPUS" --config $(CONFIG)

test: ## Run every test, the slow end-to-end ones included (what CI runs)
	$(PYTHON) -m pytest -q -rs

test-fast: ## Run the tests without the slow end-to-end ones
	$(PYTHON) -m pytest -q -rs -m "not slow"

lint: ## ruff lint and format check
	$(VENV)/bin/ruff check dstorch tests scripts
	$(VENV)/bin/ruff format --check dstorch tests scripts

format: ## ruff format the code
	$(VENV)/bin/ruff format dstorch tests scripts

bench: ## Training throughput/MFU (bf16 on a GPU); epoch time with batches made ahead vs not; our transcription and start-up vs the official client (same run); make listen latency
	$(PYTHON) scripts/bench.py
	$(PYTHON) scripts/bench_epochs.py
	$(PYTHON) scripts/bench_transcribe.py
	$(PYTHON) scripts/bench_startup.py
	$(PYTHON) scripts/bench_listen.py

bench-import: ## Import throughput (files/s) on 1,000-clip FLAC and MP3 trees, 1 vs N workers
	$(PYTHON) scripts/bench_import.py

bench-faults: ## SIGKILL the trainer (20 trials), prepare, the scorer stage; corrupt checkpoints, NaN loss, export/clean beside your files; verify
	$(PYTHON) scripts/bench_faults.py

bench-generalisation: ## Accuracy and acting (right/wrong/rejected, false accepts) on a held-out engine's voices, clean and in a noisy room, each lever on/off, official client (SEEDS=1,2,3: mean and spread; EXAMPLE=confusable)
	$(PYTHON) scripts/bench_generalisation.py

bench-vad: ## Voice-activity trim on/off on clips padded with silence or room noise, official client (MODEL=x.pbmm SCORER=x.scorer)
	$(PYTHON) scripts/bench_vad.py $${DSTORCH_MODEL:+--model "$$DSTORCH_MODEL"} \
		$${DSTORCH_SCORER:+--scorer "$$DSTORCH_SCORER"}

bench-transfer: ## Base model from make pretrain, fine-tuned vs from scratch on 3 takes per command
	$(PYTHON) scripts/bench_transfer.py

example-data: ## Regenerate the example recordings and commands.csv (EXAMPLE=confusable: one-word-apart commands; FORCE=yes over your own)
	$(PYTHON) scripts/make_example_data.py

clean: ## Remove run state, checkpoints, volumes and what prepare wrote in DATA_DIR (never ORIGINAL_DIR or MODELS_DIR)
	@$(DSTORCH) clean --config $(CONFIG)
	rm -f Dockerfile

distclean: ## Also remove the model's files from MODELS_DIR, build/ and the venv
	@$(DSTORCH) clean --models --config $(CONFIG)
	rm -rf build $(VENV) Dockerfile
