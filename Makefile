# `make demo` and `make test` each build .venv if needed, install, pull the shipped models, then run.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= demo-out

.PHONY: install models demo test test-fast lint cluster-demo docs clean

$(BIN)/python:
	$(shell command -v $(PY) >/dev/null 2>&1 && echo $(PY) || echo python3) -m venv $(VENV)

# The pinned dependencies first, then mediapipe/insightface without theirs (a second OpenCV).
$(STAMP): $(BIN)/python pyproject.toml requirements-nodeps.txt
	$(BIN)/pip install --quiet -e '.[test,lint]'
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m facex_video.envcheck
	touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/facex models pull

demo: models
	$(BIN)/python scripts/demo.py --out $(OUT)

# the whole suite, then the Ray job demo through `ray job submit` (CI runs both). Two pytest workers for
# everything but Ray (2 cores: 29.8 min serial in CI, at the 30 min budget); the Ray tests share one local
# cluster, so they run after, in one process.
test: models
	$(BIN)/python -m pytest -q -n 2 -m "not ray"
	$(BIN)/python -m pytest -q -m ray
	$(MAKE) cluster-demo

# the fast tier, for every edit: no Ray, no encodings matrix, nothing marked slow (`make test` runs everything)
test-fast: models
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not ray and not conformance"

# ruff (style, import order, likely bugs) over the tree, mypy over the package; .ci/run runs it before the tests
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# a local Ray head on 127.0.0.1, jobs/reenact.py submitted with `ray job submit`, output checked, head stopped
cluster-demo: models
	$(BIN)/python scripts/cluster_demo.py --out $(OUT)

# Every picture of docs/: runs each command quoted in docs/guide.md and draws what they wrote, then the
# benchmarks (quick mode, minutes) rewrite docs/benchmarks.md and its plots.
docs: models
	$(BIN)/python scripts/docs.py
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
