# Fresh machine: `make demo` or `make test`. Both install what is missing first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements/torch.txt requirements/main.txt requirements/test.txt requirements/constraints.txt setup.py
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PYTEST_ARGS ?=
# make demo [DATA=synthetic|nuscenes] [DATAROOT=/path/to/nuscenes] [DEMO_ARGS='--frames 24']
DATA ?= synthetic
DATAROOT ?=
DEMO_ARGS ?=

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): $(REQS) tools/install_libusb.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/torch.txt
	$(PY) -m pip install -q -r requirements/main.txt -r requirements/test.txt -c requirements/constraints.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	tools/install_libusb.sh $(VENV)
	$(PY) -m pip check
	@if $(PY) -m pip list 2>/dev/null | grep -i -E '^(nvidia|cuda|triton)'; then \
		echo "error: CUDA packages were installed; torch must stay the CPU build" >&2; exit 1; fi
	$(PY) -c "import loc_core, open3d, rclpy, open_clip, torchvision; print('environment ok')"
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m loc_ros.demo.cli --data $(DATA) $(if $(DATAROOT),--dataroot $(DATAROOT)) $(DEMO_ARGS)

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
