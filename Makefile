# README's two commands: `make demo` and `make test`. Both set everything up from scratch:
# the virtualenv, the package with its compiled speedups, and a local CQL node.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NODE   := $(PY) tools/dbnode.py
HOSTS  := $${SCYLLABATCH_HOSTS:-127.0.0.1}
STAMP  := $(VENV)/.installed

.PHONY: install build node-start node-stop node-status node-logs demo test test-unit lint \
        bench dist clean

$(STAMP): pyproject.toml setup.py $(wildcard _speedups/*.pyx)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel "Cython==3.3.1"
	SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pip install --quiet --no-build-isolation -e '.[dev]'
	SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -c "import scyllabatch; print('scyllabatch', scyllabatch.__version__, 'speedups:', scyllabatch.IMPLEMENTATION)"
	touch $@

install: $(STAMP)

# Rebuild the Cython extensions in place after editing _speedups/*.pyx.
build: $(STAMP)
	SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) setup.py -q build_ext --inplace

node-start: $(STAMP)
	$(NODE) start

node-stop:
	@if [ -x $(PY) ]; then $(NODE) stop; else python3 tools/dbnode.py stop; fi

node-status: $(STAMP)
	$(NODE) status

node-logs: $(STAMP)
	$(NODE) logs

lint: $(STAMP)
	$(VENV)/bin/ruff check scyllabatch tests benchmarks tools setup.py
	$(VENV)/bin/mypy

test-unit: $(STAMP)
	SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest -m "not integration" -q

# The whole suite against a real node; the node is stopped even when tests fail. `dist` first
# proves the artifacts users install work, not only this editable checkout.
test: $(STAMP) lint dist
	@status=0; trap '$(NODE) stop' EXIT; \
	$(NODE) start || exit 1; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest || status=$$?; \
	echo "== speedups again with the pure-Python twins (SCYLLABATCH_NO_EXTENSIONS=1)"; \
	SCYLLABATCH_NO_EXTENSIONS=1 $(PY) -m pytest -m speedups -q tests/speedups || status=$$?; \
	exit $$status

# Build the sdist and, from it, the wheel (into dist/); check their metadata and contents; install
# each into a fresh virtualenv outside the checkout and run the unit tests there: the wheel with
# the compiled speedups, the sdist as pure Python (tools/check_dist.py says exactly what).
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*
	$(PY) tools/check_dist.py dist

# A write/read round trip, then the main job: `scyllabatch bench`, the SDK next to the raw driver
# in the same run (batch sizes 5-100, UNLOGGED/LOGGED), sized to take about a minute on 2 cores.
DEMO_BENCH ?= --total-ops 5000 --namespaces 100 --rounds 2
demo: $(STAMP)
	@status=0; trap '$(NODE) stop' EXIT; \
	$(NODE) start || exit 1; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(VENV)/bin/scyllabatch demo || status=$$?; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(VENV)/bin/scyllabatch bench $(DEMO_BENCH) || status=$$?; \
	exit $$status

# pytest-benchmark suite (codec, stats, planner, end-to-end next to the raw driver) against a
# node started here and stopped after. Extra options via BENCH_OPTS, e.g. a baseline:
#   make bench BENCH_OPTS=--benchmark-save=base
#   make bench BENCH_OPTS="--benchmark-compare --benchmark-compare-fail=mean:10%"
bench: $(STAMP)
	@status=0; trap '$(NODE) stop' EXIT; \
	$(NODE) start || exit 1; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest benchmarks \
		--benchmark-only --benchmark-group-by=group --benchmark-sort=mean \
		--benchmark-columns=min,median,mean,stddev,rounds $(BENCH_OPTS) || status=$$?; \
	exit $$status

clean:
	rm -rf build dist *.egg-info scyllabatch/_speedups/*.so _speedups/*.c .pytest_cache .mypy_cache
