# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint format bench clean system-deps

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

# torch==2.13.0 first: it is the CPU build on this machine's disk; a looser pin pulls CUDA.
$(VENV)/.dev: $(VENV)/.base pyproject.toml
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev,harness,ray,rl,tq]'
	touch $@

# Debian tools the test suite drives (headless Chromium for the report test, valgrind
# for the instruction-count benchmark).
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v valgrind >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver valgrind >/dev/null; \
	  else echo "chromium/chromedriver/valgrind missing: run 'sudo apt-get install chromium chromium-driver valgrind'"; fi; \
	fi

demo: $(VENV)/.base
	$(VENV)/bin/tunegym run examples/sqlite-insert/scenario.toml --output runs

test: $(VENV)/.dev system-deps
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev
	$(VENV)/bin/ruff format src tests benchmarks examples
	$(VENV)/bin/ruff check --fix src tests benchmarks examples

bench: $(VENV)/.dev
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
