"""Fixtures for tests that reach the scripted OpenAI-compatible server over real HTTP."""

from tests.llm_server import llm, scripted_server  # noqa: F401 - pytest fixtures
