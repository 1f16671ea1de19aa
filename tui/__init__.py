"""The Textual TUI: watch and steer a run by reading and writing the run store."""
