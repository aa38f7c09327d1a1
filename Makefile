# lesrcnn-deploy — every target bootstraps its own virtual environment.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/lesrcnn-deploy
STAMP  := $(VENV)/.installed-0.1
SCALES := 2 3 4
FP32   := $(foreach s,$(SCALES),models/lesrcnn_x$(s).onnx)
INT8   := $(foreach s,$(SCALES),models/lesrcnn_x$(s)_int8.onnx)
BENCH_ARGS ?=

.PHONY: all venv export quantize bench test lint gate readme clean
.DELETE_ON_ERROR:

all: bench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,openvino]'
	touch $(STAMP)

venv: $(STAMP)

models/lesrcnn_x%.onnx: | $(STAMP)
	$(CLI) export --scale $* --output $@

export: $(STAMP) $(FP32)

models/lesrcnn_x%_int8.onnx: models/lesrcnn_x%.onnx
	$(CLI) quantize --model $< --output $@

quantize: $(STAMP) $(INT8)

bench: quantize
	$(CLI) bench $(BENCH_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q

# The int8 accuracy gate on its own (also part of `make test`): rebuild int8 with the default
# configuration, measure Set5/Set14 drops, compare with benchmarks/baseline.json.
gate: $(STAMP) $(FP32)
	$(CLI) gate

# Refresh the README's results section and docs/bench_*.png from reports/bench/.
readme: $(STAMP)
	$(CLI) bench --readme-only

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf models/*.onnx models/*.json reports .pytest_cache .mypy_cache .ruff_cache
