"""The version of gtsdk, written once: pyproject.toml reads it (``dynamic = ["version"]``), ``gtsdk.__version__``
imports it, the service reports it, and CHANGELOG.md has a section for it."""

__version__ = "0.1.0"
