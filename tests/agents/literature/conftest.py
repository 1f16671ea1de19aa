"""Fixtures: the fake literature service over real HTTP on 127.0.0.1."""

from tests.literature_server import lit, literature_server  # noqa: F401 - pytest fixtures
