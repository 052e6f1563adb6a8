# Fresh machine: `make demo` or `make test`. Both install what is missing first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQS := requirements/torch.txt requirements/main.txt requirements/test.txt requirements/constraints.txt setup.py
# The real ros2 CLI (ros2cli and its verbs, launch, launch_ros, tf2_msgs, ...) as wheels for the Kilted
# PyPI packages; not on PyPI. Found like the sample data: $LOC_ROS2CLI, else ../shared/ros2cli. Without
# them the real-CLI tests skip, except with LOC_REQUIRE_ROS2CLI=1 (CI), where setup fails.
ROS2CLI_WHEELS ?= $(or $(LOC_ROS2CLI),../shared/ros2cli)
ROS2CLI_FOUND := $(wildcard $(ROS2CLI_WHEELS)/*.whl)
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PYTEST_ARGS ?=
# make demo [DATA=synthetic|nuscenes] [DATAROOT=/path/to/nuscenes] [DEMO_ARGS='--frames 24']
DATA ?= synthetic
DATAROOT ?=
DEMO_ARGS ?=

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): $(REQS) tools/install_libusb.sh $(ROS2CLI_FOUND)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/torch.txt
	$(PY) -m pip install -q -r requirements/main.txt -r requirements/test.txt -c requirements/constraints.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@if [ -n "$(ROS2CLI_FOUND)" ]; then \
		echo "installing the ros2 CLI wheels from $(ROS2CLI_WHEELS)"; \
		$(PY) -m pip install -q -c requirements/constraints.txt $(ROS2CLI_FOUND) || exit 1; \
		test -x $(VENV)/bin/ros2 || { echo "error: $(VENV)/bin/ros2 missing after installing the wheels" >&2; exit 1; }; \
	elif [ "$$LOC_REQUIRE_ROS2CLI" = 1 ]; then \
		echo "error: no ros2 CLI wheels in $(ROS2CLI_WHEELS) (set LOC_ROS2CLI)" >&2; exit 1; \
	else echo "note: no ros2 CLI wheels in $(ROS2CLI_WHEELS): the real-CLI tests will be skipped"; fi
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
