# Every target installs what it needs into .venv first; `make run` and `make test` are the whole set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The project's CPU machines cap pip at the torch release on their disk (/etc/xdg/pip):
# ask for exactly that pair there; elsewhere pyproject's ranges pick the right build.
TORCH_PIN ?= $(shell test -f /etc/xdg/pip/constraints.txt && echo "torch==2.14.1 torchvision==0.29.1")
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)
SWEEP_CPU := -m model=fcn,cnn,lstm 'backend=glob(*)' precision=fp32,int8 batch_size=1,16,64 device=cpu
UI_PORT ?= 5000

.PHONY: help install run test test-fast test-gpu data sweep-cpu report study-report ui server lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN) -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)  ## create .venv and install the project (EXTRAS=dev,gpu for GPU extras)

run: $(STAMP)  ## benchmark the default cell (CNN, eager, FP32, digits) and print its table
	$(PY) -m benchmark

test: $(STAMP)  ## run the offline CPU test suite (all of it: what CI runs)
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the suite without the tests that start benchmark processes (marker slow)
	$(PY) -m pytest -q -m "not slow and not gpu"

# The GPU machine has no package index: there the image's python3 (with the wheels of
# ../shared/device/README.md on PYTHONPATH) runs the suite instead of a fresh .venv.
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_LOG ?= docs/results/test-gpu.log
test-gpu:  ## the GPU suite (tests/gpu: every CUDA path), on a GPU machine; log with the card -> $(GPU_LOG)
	set -o pipefail; BENCHMARK_GPU_TESTS=1 PYTHONPATH=$(CURDIR):$$PYTHONPATH $(GPU_PY) -m pytest tests/gpu -v -rA -p no:cacheprovider 2>&1 | tee $(GPU_LOG)

data: $(STAMP)  ## fetch what the model YAMLs declare (weights, IMDB, ImageNet-mini with Kaggle credentials), for offline sweeps
	$(PY) -m benchmark.data.fetch

sweep-cpu: $(STAMP)  ## the custom models x every backend x fp32/int8 x batch 1,16,64 on CPU
	$(PY) -m benchmark $(SWEEP_CPU)

report: $(STAMP)  ## tables of the latest sweep -> outputs/report.md (ARGS="--all" or "--sweep ID")
	$(PY) -m benchmark.results.report $(ARGS)

study-report: $(STAMP)  ## docs/results/study/STUDY.md (+ .html, figures/, report.csv.gz) from the study's records.tgz
	$(PY) scripts/study_report.py docs/results/study/records.tgz

ui: $(STAMP)  ## MLflow UI on the local store (mlflow.db)
	@echo "MLflow UI: http://127.0.0.1:$(UI_PORT)"
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(UI_PORT)

server: $(STAMP)  ## shared MLflow tracking server for parallel or cluster sweeps (ARGS="--auth --host 0.0.0.0 ...")
	$(PY) -m benchmark.results.server $(ARGS)

lint: $(STAMP)  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## ruff fix and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## remove outputs and the local MLflow store (keeps .venv)
	rm -rf outputs multirun mlflow.db mlflow-server.db mlflow-auth.db mlflow-auth.ini mlartifacts
