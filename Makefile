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
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel "Cython>=3.0.10,<3.4"
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

# The whole suite against a real node; the node is stopped even when tests fail.
test: $(STAMP) lint
	@status=0; trap '$(NODE) stop' EXIT; \
	$(NODE) start || exit 1; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest || status=$$?; \
	echo "== speedups again with the pure-Python twins (SCYLLABATCH_NO_EXTENSIONS=1)"; \
	SCYLLABATCH_NO_EXTENSIONS=1 $(PY) -m pytest -m speedups -q tests/speedups || status=$$?; \
	exit $$status

demo: $(STAMP)
	@status=0; trap '$(NODE) stop' EXIT; \
	$(NODE) start || exit 1; \
	SCYLLABATCH_HOSTS=$(HOSTS) SCYLLABATCH_REQUIRE_EXTENSIONS=1 $(VENV)/bin/scyllabatch demo || status=$$?; \
	exit $$status

clean:
	rm -rf build dist *.egg-info scyllabatch/_speedups/*.so _speedups/*.c .pytest_cache .mypy_cache
