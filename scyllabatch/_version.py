"""Single source of the package version (read by setup metadata and ``scyllabatch.__version__``)."""

__version__ = "0.1.0"
