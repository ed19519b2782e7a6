# StreamDiT engine SDK. Every target creates .venv when it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0
# Spinning OpenMP workers make small CPU steps many times slower when cores are shared.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: venv test demo demo-toy bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# Pin the CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[runtime,dev]'  # the client alone: pip install .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/streamdit demo --seconds 60 --out out/demo.mp4  # 60 s from the first frame (a first start compiles ~1 min)

demo-toy: $(STAMP)
	$(BIN)/streamdit generate --checkpoint toy --prompt "a red square moves right" --frames 96 \
		--switch-prompt-at 48 --prompt2 "a blue circle moves up" --out out/toy.mp4

bench: $(STAMP)
	$(BIN)/python benchmarks/dit_step.py

clean:
	rm -rf $(VENV) build *.egg-info
