"""Local fake Google APIs for tests and benches (see each module's docstring)."""
