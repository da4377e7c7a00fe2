# dstorch: train a DeepSpeech model from your own recordings.
# configuration.env holds every setting; `make KEY=value` overrides one for that command
# (make exports command-line variables to the environment, where dstorch reads them).

SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
DSTORCH := $(PYTHON) -m dstorch
KENLM_DIR ?= build/kenlm
CONFIG ?= configuration.env

.DEFAULT_GOAL := all
.PHONY: help all dependencies kenlm volumes prepare build run log status stop rebuild \
	export report transcribe preview test test-fast lint format bench bench-generalisation bench-faults example-data clean distclean

help: ## List every target
	@echo "Usage: make [target] [KEY=value ...]   (keys: see configuration.env)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

all: volumes build run ## Prepare data, build and start training detached (default goal)

dependencies: $(VENV)/.installed kenlm ## Create .venv with pinned packages, build KenLM, check sox
	@command -v sox >/dev/null || { \
		echo "error: sox not found; install it (apt-get install sox libsox-fmt-all)"; exit 1; }
	@echo "Dependencies ready."

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

kenlm: $(KENLM_DIR)/bin/lmplz ## Build KenLM's lmplz and build_binary (part of dependencies)

$(KENLM_DIR)/bin/lmplz:
	bash scripts/build_kenlm.sh $(KENLM_DIR)

volumes: ## Create the Docker volumes (nothing to do for the local runner)
	@$(DSTORCH) volumes --config $(CONFIG)

prepare: ## Convert original/ + commands.csv into data/ (train/dev/test CSVs, alphabet)
	@$(DSTORCH) prepare --config $(CONFIG)

build: prepare ## Prepare data and build the trainer (renders Dockerfile, builds the image)
	@$(DSTORCH) build --config $(CONFIG)

run: ## Start or resume training, detached
	@$(DSTORCH) run --config $(CONFIG)

log: ## Follow the training output until the run ends
	@$(DSTORCH) log --config $(CONFIG)

status: ## One line: state, runner, epoch/max epoch, best dev loss
	@$(DSTORCH) status --config $(CONFIG)

stop: ## Pause training gracefully (resume with make run)
	@$(DSTORCH) stop --config $(CONFIG)

rebuild: ## Re-process data and restart (NEW_DATA=yes LOAD_FROM_CHECKPOINT=no starts fresh)
	@$(DSTORCH) stop --config $(CONFIG)
	@$(DSTORCH) prepare --config $(CONFIG)
	@$(DSTORCH) build --config $(CONFIG)
	@if [[ "$${LOAD_FROM_CHECKPOINT,,}" =~ ^(no|false|0|off)$$ ]]; then \
		$(DSTORCH) reset --config $(CONFIG); fi
	@$(DSTORCH) run --config $(CONFIG)

export: ## Copy the exported model (.pb, .pbmm, .scorer, alphabet, report) into models/
	@$(DSTORCH) fetch --config $(CONFIG)

report: ## Show where the evaluation report (models/report.html) is, with a summary
	@$(DSTORCH) report --config $(CONFIG)

transcribe: ## Transcribe AUDIO=file.wav (or a folder) with the exported model
	@test -n "$(AUDIO)" || { echo "error: give AUDIO=path/to/file.wav"; exit 2; }
	@$(DSTORCH) transcribe --config $(CONFIG) --audio "$(AUDIO)"

preview: ## Write augmented copies of AUDIO=file.wav (uses AUGMENT) to augment-preview/
	@test -n "$(AUDIO)" || { echo "error: give AUDIO=path/to/file.wav"; exit 2; }
	@$(DSTORCH) preview --config $(CONFIG) "$(AUDIO)"

test: ## Run every test, the slow end-to-end ones included (what CI runs)
	$(PYTHON) -m pytest -q -rs

test-fast: ## Run the tests without the slow end-to-end ones
	$(PYTHON) -m pytest -q -rs -m "not slow"

lint: ## ruff lint and format check
	$(VENV)/bin/ruff check dstorch tests scripts
	$(VENV)/bin/ruff format --check dstorch tests scripts

format: ## ruff format the code
	$(VENV)/bin/ruff format dstorch tests scripts

bench: ## Training throughput/MFU, and our transcription vs the official client (same run)
	$(PYTHON) scripts/bench.py
	$(PYTHON) scripts/bench_transcribe.py

bench-faults: ## SIGKILL the trainer (20 trials), prepare and the scorer stage; resume and verify
	$(PYTHON) scripts/bench_faults.py

bench-generalisation: ## Accuracy on unseen voices with vs without augmentation (one run)
	$(PYTHON) scripts/bench_generalisation.py

example-data: ## Regenerate the example recordings in original/ and commands.csv
	$(PYTHON) scripts/make_example_data.py

clean: ## Remove generated data, run state, checkpoints and volumes (never original/ or models/)
	@$(DSTORCH) clean --config $(CONFIG)
	rm -rf data Dockerfile

distclean: clean ## Also remove models/, build/ and the venv
	rm -rf models build $(VENV)
