# edgetl — two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline machines can point at a local Keras no-top .h5; online users get Keras' ImageNet download.
SHARED_WEIGHTS := ../shared/weights/mobilenet_v2_1.0_224_imagenet_from_coral_int8ptq_no_top.h5
WEIGHTS ?= $(if $(wildcard $(SHARED_WEIGHTS)),$(SHARED_WEIGHTS),imagenet)
# Exact versions CI tested (`make lock` refreshes them): the workstation set and the Pi set (x86_64 + aarch64).
DEV_LOCK := requirements/dev.txt
PI_LOCK := requirements/pi.txt
# uv resolves the lock files; it lives in its own venv so it never mixes with the project's packages.
UV_VERSION := 0.13.9
TOOLS := .cache/tools
LOCK_PYTHON := 3.11

SHARED_DATA := ../shared/data
RUPEE_FOLDERS := $(addprefix $(SHARED_DATA)/,inr-photos inr-scans inr-handheld inr-parul)

.PHONY: model install demo test test-fast lock check-newest dist pi-check clean

$(BIN)/edgetl: pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(DEV_LOCK) -e '.[train,dev]'
	touch $@

install: $(BIN)/edgetl

demo: install
	$(BIN)/edgetl demo --weights $(WEIGHTS)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# Re-resolve both lock files from pyproject.toml against the registry (newest allowed versions).
lock: $(TOOLS)/bin/uv
	$(TOOLS)/bin/uv pip compile --quiet pyproject.toml --extra train --extra dev --python-version $(LOCK_PYTHON) \
	    --python-platform x86_64-manylinux_2_28 -c requirements/resolver.txt --no-annotate --custom-compile-command 'make lock' -o $(DEV_LOCK)
	$(TOOLS)/bin/uv pip compile --quiet pyproject.toml --extra pi --python-version $(LOCK_PYTHON) --universal \
	    -c requirements/resolver.txt --no-annotate --custom-compile-command 'make lock' -o $(PI_LOCK)

# The newest versions pyproject.toml allows, in a throw-away venv: the CLI must still answer without a traceback.
check-newest:
	requirements/check-newest.sh

# sdist + wheel in dist/, checked by twine (the package is not on the registry: this is how it ships).
dist: install
	rm -rf dist build
	$(BIN)/python -m build --sdist --wheel --outdir dist . >/dev/null
	$(BIN)/twine check --strict dist/*

# Real scenes (the wallpapers of seven Debian packages, pinned by version and SHA-256; ~225 MB, fetched once).
SCENES := .cache/scenes
$(SCENES)/.complete:
	$(PYTHON) scripts/fetch_scenes.py $(SCENES)

# The deployable rupee model from ../shared with the README's defaults: runs/rupees and models/rupees_int8.*
model: install $(SCENES)/.complete
	$(BIN)/edgetl synth build/no-note --background-only --per-class 600
	$(BIN)/edgetl synth build/scene-no-note --background-only --per-class 600 --background $(SCENES)/usr/share
	$(BIN)/edgetl synth build/composites --from $(SHARED_DATA)/inr-photos --from $(SHARED_DATA)/inr-scans --no-background \
	    --per-class 200 --background $(SCENES)/usr/share
	$(BIN)/edgetl train $(RUPEE_FOLDERS) build/no-note build/scene-no-note build/composites --out runs/rupees \
	    --weights $(WEIGHTS) --force
	$(BIN)/edgetl export runs/rupees --int8 --out models

# install.sh + `edgetl run` inside an emulated Debian bookworm arm64 root, compared with the same run here.
pi-check: install
	deploy/raspberrypi/check-arm64.sh

clean:
	rm -rf demo-output .pytest_cache dist build
