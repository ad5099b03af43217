# edgetl — two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline machines can point at a local Keras no-top .h5; online users get Keras' ImageNet download.
SHARED_WEIGHTS := ../shared/weights/mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5
WEIGHTS ?= $(if $(wildcard $(SHARED_WEIGHTS)),$(SHARED_WEIGHTS),imagenet)

.PHONY: install demo test test-fast clean

$(BIN)/edgetl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@

install: $(BIN)/edgetl

demo: install
	$(BIN)/edgetl demo --weights $(WEIGHTS)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf demo-output .pytest_cache
