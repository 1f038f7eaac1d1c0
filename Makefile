# Two entry points for a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The oldest onnxruntime the runtime declares (pyproject.toml is the one place it is written), and a second
# venv with only the runtime and that onnxruntime: no torch, no onnx, no compiler.
ORT_FLOOR := $(shell sed -n 's/.*"onnxruntime-gpu>=\([0-9.]*\);.*/\1/p' pyproject.toml)
FLOOR_VENV := .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed
# The tests that need only the runtime's dependencies (shipped bundles, an edited bundle, hostile input).
RUNTIME_TESTS := tests/test_shipped_runtime.py tests/test_runtime_head.py tests/test_video_limits.py \
	tests/test_hostile_runtime.py
TRITON := $(VENV)/triton-server
TRITON_STAMP := $(TRITON)/.installed

.PHONY: install demo test test-fast test-floor clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(FLOOR_STAMP): pyproject.toml
	rm -rf $(FLOOR_VENV)
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/pip install --quiet -e . 'onnxruntime-gpu==$(ORT_FLOOR)' pytest
	touch $@

# The Python a local Triton server's python backend stub runs model.py with (catsplit.scale.triton_server):
# nvidia-pytriton's tritonserver, numpy<2 (the stub of server 2.51 is built against numpy 1) and
# onnxruntime. A venv of its own, so that the project itself keeps numpy 2.
$(TRITON_STAMP): Makefile
	$(PYTHON) -m venv $(TRITON)
	$(TRITON)/bin/pip install --quiet --upgrade pip
	$(TRITON)/bin/pip install --quiet 'nvidia-pytriton==0.7.0' 'onnxruntime>=1.20,<2'
	touch $@

install: $(STAMP) $(TRITON_STAMP)

demo: $(STAMP)
	$(BIN)/python -m benchmarks.demo

# The full suite, then the runtime tests again on the oldest onnxruntime.
test: $(STAMP) $(TRITON_STAMP)
	$(BIN)/pytest -q -n 2 --durations=15
	$(MAKE) test-floor

# Everything but the tests marked slow (model zoo exports, giant clips): under 2 minutes on 2 cores.
test-fast: $(STAMP)
	$(BIN)/pytest -q -n 2 -m "not slow"

# The main venv makes what only the compiler can (an edited bundle, a probe at the writers' IR/opset caps).
test-floor: $(STAMP) $(FLOOR_STAMP)
	rm -rf out/floor
	$(BIN)/python -m tests.runtime_fixtures out/floor
	$(FLOOR_VENV)/bin/python -c 'import onnxruntime; print("runtime tests on onnxruntime", onnxruntime.__version__)'
	CATSPLIT_RUNTIME_FIXTURES=out/floor $(FLOOR_VENV)/bin/pytest -q -p no:cacheprovider $(RUNTIME_TESTS)

clean:
	rm -rf $(VENV) $(FLOOR_VENV) out .cache
