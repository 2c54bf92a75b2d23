# README's two commands: `make demo` and `make test`. Both set everything up from scratch:
# the virtualenv, the package with its compiled speedups, and a local CQL node.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NODE   := $(PY) tools/dbnode.py
HOSTS  := $${SCYLLABATCH_HOSTS:-127.0.0.1}
STAMP  := $(VENV)/.installed
# The local 3-node cluster of the cluster tests: consecutive loopback addresses from this one.
CLUSTER_FIRST ?= $${SCYLLABATCH_CLUSTER_FIRST_ADDRESS:-127.0.0.1}
CLUSTER_HOSTS := $$($(PY) tools/dbnode.py hosts --nodes 3 --first-address $(CLUSTER_FIRST))
# Shell steps of the cluster stage (inside a recipe that defines `status` and stops the cluster
# in its EXIT trap): start the 3-node cluster, run tests/cluster, stop it, say how long it took.
CLUSTER_STAGE = began=$$(date +%s); \
	echo "== cluster stage: 3 nodes from $(CLUSTER_FIRST), tests/cluster"; \
	if $(NODE) start --nodes 3 --first-address $(CLUSTER_FIRST); then \
		SCYLLABATCH_CLUSTER_HOSTS=$(CLUSTER_HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 \
			$(PY) -m pytest -m cluster tests/cluster -rA -s || status=$$?; \
	else status=1; fi; \
	$(NODE) stop --nodes 3; \
	echo "== cluster stage took $$(( $$(date +%s) - began )) s"

.PHONY: install build node-start node-stop node-status node-logs demo test test-unit lint \
        bench dist clean cluster-start cluster-stop cluster-status cluster-logs test-cluster \
        cluster-stage

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

# Three Cassandra nodes on 127.0.0.1-3 (CLUSTER_FIRST=127.0.0.11 for .11-.13), commitlog_sync
# batch, 768M heaps; ready when all three are up and normal. Stop stops exactly those pids.
cluster-start: $(STAMP)
	$(NODE) start --nodes 3 --first-address $(CLUSTER_FIRST)

cluster-stop:
	@if [ -x $(PY) ]; then $(NODE) stop --nodes 3; else python3 tools/dbnode.py stop --nodes 3; fi

cluster-status: $(STAMP)
	$(NODE) status --nodes 3 --first-address $(CLUSTER_FIRST)

cluster-logs: $(STAMP)
	$(NODE) logs --nodes 3 --first-address $(CLUSTER_FIRST)

# The cluster tests against a cluster that is already running (`make cluster-start`).
test-cluster: $(STAMP)
	SCYLLABATCH_CLUSTER_HOSTS=$(CLUSTER_HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 \
		$(PY) -m pytest -m cluster tests/cluster -rA -s

lint: $(STAMP)
	$(VENV)/bin/ruff check scyllabatch pytest_scyllabatch.py tests benchmarks tools setup.py
	$(VENV)/bin/mypy

test-unit: $(STAMP)
	SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest -m "not integration" -q

# The whole suite against a real node; the node is stopped even when tests fail. `dist` first
# proves the artifacts users install work, not only this editable checkout. Then the cluster
# stage: the single node is stopped, a 3-node cluster starts on 127.0.0.1-3, the cluster tests
# (tests/cluster, marker `cluster`) run against it, and the cluster is stopped, also on failure.
test: $(STAMP) lint dist
	@status=0; trap '$(NODE) stop; $(NODE) stop --nodes 3' EXIT; \
	$(NODE) start || exit 1; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest || status=$$?; \
	echo "== speedups again with the pure-Python twins (SCYLLABATCH_NO_EXTENSIONS=1)"; \
	SCYLLABATCH_NO_EXTENSIONS=1 $(PY) -m pytest -m speedups -q tests/speedups || status=$$?; \
	$(NODE) stop; \
	$(CLUSTER_STAGE); \
	exit $$status

# The cluster stage of `make test` on its own (the trap stops the cluster even on Ctrl-C).
cluster-stage: $(STAMP)
	@status=0; trap '$(NODE) stop --nodes 3' EXIT; \
	$(CLUSTER_STAGE); \
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
