# Every target creates .venv when missing and installs the project into it: nothing else is needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
# `make demo FORCE=1` trains again although the data has not changed (a repeated demo otherwise trains
# nothing and leaves the model it deployed before serving).
FORCE ?=
# Off by default. `make install TORCH_INDEX_URL=<PyTorch's CPU wheel index URL>` installs torch==2.13.0 from
# that index alone (--index-url: pip looks nowhere else for torch, so no other index can offer a build that
# outranks it), where it resolves to the CPU build 2.13.0+cpu; the project install then finds the pin met.
# Unset, pip takes torch from its default index (on Linux the CUDA build and its nvidia-* wheels).
# It matters when .venv is first installed: remove .venv to switch builds.
TORCH_INDEX_URL ?=

.PHONY: install test test-slow test-images test-teacher teacher lint demo bench images push clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(if $(TORCH_INDEX_URL),$(BIN)/pip install -q --index-url $(TORCH_INDEX_URL) torch==2.13.0)
	$(BIN)/pip install -q -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# The MediaPipe teacher of `personseg data label` in its own environment: mediapipe needs protobuf<5,
# kfp needs protobuf>=6 (setup.cfg, extra `label`). About 1.2 GB installed.
TEACHER := .venv-teacher
$(TEACHER)/.installed: setup.cfg pyproject.toml
	test -x $(TEACHER)/bin/python || $(PY) -m venv $(TEACHER)
	$(TEACHER)/bin/pip install -q --upgrade pip
	$(TEACHER)/bin/pip install -q -e '.[label]' 'pytest>=8'
	touch $@

teacher: $(TEACHER)/.installed

# The labelling tests with the real teacher (they skip in .venv, where mediapipe cannot be installed).
test-teacher: $(TEACHER)/.installed
	$(TEACHER)/bin/python -m pytest -q -p no:cacheprovider tests/test_labeling_mediapipe.py tests/test_labeling_label.py

lint: $(STAMP)
	$(BIN)/ruff check personseg personseg_kfp tests benchmarks components pipelines scripts images

# The training tests that fork DataLoader workers and start torchrun ranks run in a process of their own:
# once (1 of 2 full runs) the single-process suite died with a segfault as they began, after the OpenVINO,
# ONNX Runtime and INC tests had loaded their thread pools into the same process; alone they pass.
FORKING_TESTS := tests/test_stream.py tests/test_train_ddp.py tests/test_train_device.py
test: lint
	$(BIN)/python -m pytest -q $(addprefix --ignore=,$(FORKING_TESTS))
	$(BIN)/python -m pytest -q $(FORKING_TESTS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow --timeout=2400

demo: $(STAMP)
	FORCE='$(FORCE)' bash scripts/demo.sh $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/python benchmarks/speed_table.py

# Container images: docker when an engine answers, else buildah (scripts/images.sh).
images:
	bash scripts/images.sh build

push:
	REGISTRY='$(REGISTRY)' bash scripts/images.sh push

# One debootstrap'ed base for every image test (kept in runs/images-cache unless PERSONSEG_IMAGES_CACHE says where).
test-images: $(STAMP)
	PERSONSEG_IMAGES_CACHE="$${PERSONSEG_IMAGES_CACHE:-$(CURDIR)/runs/images-cache}" \
	  $(BIN)/python -m pytest -q -m slow --timeout=2400 -s tests/test_images_slow.py tests/test_deploy_container.py \
	  tests/test_pipeline_containers_slow.py

clean:
	rm -rf runs build *.egg-info
