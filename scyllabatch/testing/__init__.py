"""Testing support: the pytest plugin's cluster, stores and benchmark helper, and a local node.

The pytest plugin itself is the top-level module ``pytest_scyllabatch`` (registered under the
``pytest11`` entry point ``scyllabatch``), which imports nothing from here until a test asks for
one of its fixtures. docs/testing-with-pytest.md describes the fixtures.

- :mod:`scyllabatch.testing.cluster`: which cluster a test run uses (``SCYLLABATCH_HOSTS``, or a
  local node it starts and stops) and the one driver session on it;
- :mod:`scyllabatch.testing.benchmark`: ``batch()`` workloads under pytest-benchmark, next to
  the raw driver code doing the same work;
- :mod:`scyllabatch.testing.node`: start, stop and inspect a local Apache Cassandra node or
  cluster (``python -m scyllabatch.testing.node --help``).
"""

from __future__ import annotations
