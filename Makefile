# lesrcnn-deploy — every target bootstraps its own virtual environment.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/lesrcnn-deploy
STAMP  := $(VENV)/.installed-0.3
SCALES := 2 3 4
FP32   := $(foreach s,$(SCALES),models/lesrcnn_x$(s).onnx)
INT8   := $(foreach s,$(SCALES),models/lesrcnn_x$(s)_int8.onnx)
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all venv export quantize artifacts image coldstart finetune bench test test-all lint gate readme docs docs-serve clean
.DELETE_ON_ERROR:

all: bench

# --no-compile: Python writes the byte-code of what is imported on first use instead of pip
# compiling every file of torch, ray, openvino... up front (install 104 s -> 45 s here).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -e '.[all,dev,docs]'
	touch $(STAMP)

venv: $(STAMP)

models/lesrcnn_x%.onnx: | $(STAMP)
	$(CLI) export --scale $* --output $@

export: $(STAMP) $(FP32)

# int8 = the fp32 model + its committed recipe (calibration ranges, fine-tuned weights and
# activation scales), replayed in seconds; rebuilt when the fp32 model or the recipe changes.
models/lesrcnn_x%_int8.onnx: models/lesrcnn_x%.onnx calibration/lesrcnn_x%_int8.recipe.json \
                             calibration/lesrcnn_x%_int8.recipe.npz
	$(CLI) quantize --scale $* --output $@

quantize: $(STAMP) $(INT8)

# The default int8 models shipped in the package (lesrcnn_deploy/artifacts/, SHA256SUMS) from this
# rebuild: after `make finetune` or an exporter change; review and commit them like the recipes
# (tests/test_artifacts.py fails until the shipped files equal the rebuild).
artifacts: quantize
	cp $(INT8) lesrcnn_deploy/artifacts/
	cd lesrcnn_deploy/artifacts && sha256sum $(notdir $(INT8)) > SHA256SUMS

# Deliberate: calibrate and fine-tune the three recipes again (about 6 min per scale on 2 idle
# cores) and rewrite calibration/ — review and commit the result like any other change.
finetune: $(STAMP) $(FP32)
	for s in $(SCALES); do $(CLI) quantize --scale $$s --retrain || exit 1; done

bench: quantize
	$(CLI) bench $(BENCH_ARGS)

# The runtime install's cold start (a fresh venv with lesrcnn-deploy[serve] in a temporary folder:
# size on disk, time to the first image, peak RSS) into reports/bench/coldstart.json, which
# `make bench` includes. Separate because making that venv takes 1-2 min of pip.
coldstart: $(STAMP)
	$(CLI) bench --cold-start

# The fast tier (the README's test command, < 10 min on 2 cores): everything but `slow`.
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Both tiers: the fast one, then the slow one (published numbers, recipe retraining, wheel).
test-all: test
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The int8 accuracy gate on its own (also part of `make test`): the default int8 models (replayed
# from their recipes) on Set5/Set14 against benchmarks/baseline.json.
gate: quantize
	$(CLI) gate

# The service's container image (Containerfile): wheels fetched on the host into wheelhouse/, then
# built with no network and tagged lesrcnn-deploy:<version> and :latest (podman, else docker).
# IMAGE_ARGS=--offline-base where no container registry is reachable (a Debian base made with
# mmdebstrap); BASE=<image> for another public base image.
IMAGE_ARGS ?=
image:
	PYTHON=$(PYTHON) scripts/build_image.sh $(IMAGE_ARGS)

# Refresh the benchmark page's generated tables (docs/benchmarks.md) and docs/bench_*.png from
# reports/bench/.
readme: $(STAMP)
	$(CLI) bench --readme-only

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link, a missing page or
# a docstring reference that does not resolve fails the build. The CLI reference is generated from
# the parsers at build time (docs/hooks/generated.py). No --quiet: it hides the warnings that
# --strict counts, and the build then passes whatever it found.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The site on http://127.0.0.1:8001/ while you edit (rebuilt on save).
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf models/*.onnx models/*.json reports site .pytest_cache .mypy_cache .ruff_cache
