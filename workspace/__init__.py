"""Execution backends: run one node's code in isolation and report what happened."""
