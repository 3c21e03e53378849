# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint format bench clean system-deps interop bench-interop

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

# torch==2.13.0 first: it is the CPU build on this machine's disk; a looser pin pulls CUDA.
$(VENV)/.dev: $(VENV)/.base pyproject.toml
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev,harness,ray,rl,tq,results,search,bench]'
	touch $@

# Debian tools the test suite drives: headless Chromium for the report test, valgrind for
# the instruction-count benchmark, and a real Slurm (munge, MariaDB and slurmdbd for
# accounting) that tests/clusters/ starts and stops.
# One apt-get update, then one install of whatever is missing.
SYSTEM_TOOLS := chromium:chromium chromedriver:chromium-driver slurmctld:slurm-wlm \
	valgrind:valgrind slurmd:slurm-wlm sbatch:slurm-client munged:munge \
	mariadbd:mariadb-server slurmdbd:slurmdbd
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$pkg"; \
	done; \
	missing=$$(for pkg in $$missing; do echo $$pkg; done | sort -u | tr '\n' ' '); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages: run 'sudo apt-get install $$missing'"; fi; \
	fi

demo: $(VENV)/.base
	$(VENV)/bin/tunegym run examples/sqlite-insert/scenario.toml --output runs

test: $(VENV)/.dev system-deps
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests tests_interop benchmarks examples
	$(VENV)/bin/ruff format --check src tests tests_interop benchmarks examples
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev
	$(VENV)/bin/ruff format src tests tests_interop benchmarks examples
	$(VENV)/bin/ruff check --fix src tests tests_interop benchmarks examples

# bench_nemo_mcqa.py needs NeMo Gym's own server: it runs in the interop venv (bench-interop).
bench: $(VENV)/.dev
	for f in benchmarks/bench_*.py; do \
	  case $$f in *bench_nemo_mcqa.py) continue;; esac; $(PY) $$f || exit 1; done

# NeMo Gym interop (tests_interop/): the real nemo-gym in its own virtualenv, with tunegym
# installed beside it, runs NeMo Gym's client, agents and servers against tunegym's.
# nemo-gym 0.7.0 declares Python >= 3.13.14 and works on 3.13.0 with --ignore-requires-python.
# Override: make interop INTEROP_NEMO_GYM=... INTEROP_PYTHON_VERSION=... (or INTEROP_PYTHON=path).
INTEROP_NEMO_GYM ?= 0.7.0
INTEROP_PYTHON_VERSION ?= 3.13.0
INTEROP_VENV := .venv-interop-$(INTEROP_NEMO_GYM)
INTEROP_PIP := $(INTEROP_VENV)/bin/python -m pip --disable-pip-version-check -q

# Two steps: nemo-gym (slow, once per version), then tunegym (again when pyproject.toml changes).
$(INTEROP_VENV)/.nemo-gym:
	@want=$$(echo $(INTEROP_PYTHON_VERSION) | cut -d. -f1,2); \
	py="$${INTEROP_PYTHON:-$$(pyenv prefix $(INTEROP_PYTHON_VERSION) 2>/dev/null)/bin/python}"; \
	if ! "$$py" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$$want')" 2>/dev/null; then \
	  echo "make interop: nemo-gym $(INTEROP_NEMO_GYM) needs Python $$want, not found." >&2; \
	  echo "  Install it with 'pyenv install $(INTEROP_PYTHON_VERSION)', or run" >&2; \
	  echo "  'make interop INTEROP_PYTHON=/path/to/python$$want'." >&2; \
	  exit 1; \
	fi; \
	rm -rf $(INTEROP_VENV) && "$$py" -m venv $(INTEROP_VENV)
	$(INTEROP_PIP) install --ignore-requires-python nemo-gym==$(INTEROP_NEMO_GYM) pytest pytest-timeout
	touch $@

$(INTEROP_VENV)/.ready: $(INTEROP_VENV)/.nemo-gym pyproject.toml
	$(INTEROP_PIP) install -e '.[harness]'
	touch $@

interop: $(INTEROP_VENV)/.ready
	$(INTEROP_VENV)/bin/python -m pytest -q -p no:cacheprovider tests_interop

bench-interop: $(INTEROP_VENV)/.ready
	$(INTEROP_VENV)/bin/python benchmarks/bench_nemo_mcqa.py

clean:
	rm -rf $(VENV) .venv-interop-* runs .pytest_cache
