# adstage: the two commands are `make demo` and `make test`; each sets up .venv by itself.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.adstage-installed

.PHONY: demo test test-load test-all test-data weights weights-isnet bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,demo]"
	touch $(STAMP)

## The main job: triage and segment the demo images, write cut-outs and demo-out/index.html.
demo: $(STAMP)
	$(BIN)/adstage demo --out demo-out

## The full default test suite (no network, no licensed data, under 10 minutes on 2 cores), in
## TEST_WORKERS processes (pytest-xdist; `auto`: one per core, at most 4; `0`: in this process).
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses=4

## The long variants CI runs after `make test` (marker `long`): the service's load test with
## 32 clients × 200 requests, Ray's engine, a batch run killed 5 times (`make test`: twice), and
## two worker processes refining as one does.
test-load: $(STAMP)
	ADSTAGE_LOAD_REQUESTS=200 $(BIN)/python -m pytest -q -m long \
	  tests/serve/test_service_load.py tests/batch/test_batch_engines.py \
	  tests/batch/test_batch_refine.py
	ADSTAGE_BATCH_KILLS=5 $(BIN)/python -m pytest -q \
	  tests/batch/test_batch_engines.py::test_killed_repeatedly_then_finished

## Everything, including slow tests, real weights (fetched once into the cache) and ../shared/data.
test-all: $(STAMP) weights
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses=4 -m ""

weights: $(STAMP)
	$(BIN)/adstage weights fetch inception-v3-fid efficientnet-lite0 u2net u2netp lpips-alex lpips-vgg

## IS-Net weights are AGPL-3.0: an optional download, its licence is printed.
weights-isnet: $(STAMP)
	$(BIN)/adstage weights fetch isnet-general

bench: $(STAMP) weights weights-isnet
	$(BIN)/python benchmarks/segment.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/generate.py
	$(BIN)/ruff format --check src tests benchmarks docs/generate.py
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks docs/generate.py
	$(BIN)/ruff check --fix src tests benchmarks docs/generate.py

clean:
	rm -rf demo-out .pytest_cache .ruff_cache .mypy_cache
