"""Screens of the TUI, one per module."""
