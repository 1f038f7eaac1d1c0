# Two entry points for a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRITON := $(VENV)/triton-server
TRITON_STAMP := $(TRITON)/.installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

test: $(STAMP) $(TRITON_STAMP)
	$(BIN)/pytest -q -n 2 --durations=15

clean:
	rm -rf $(VENV) out .cache
