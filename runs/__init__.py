"""The run store: pydantic models of a run and the SQLite database that holds them."""
