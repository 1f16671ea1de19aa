"""Reviewers: judge executed nodes and write-ups (LLM panels, offline checklists)."""
