"""Agents: operators that turn a chosen action into a plan and experiment code."""
