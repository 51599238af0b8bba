"""The layer files here are practitioners' code for ``gradproof check-layer`` (relative imports, Python 2
names, prints at import): they are inputs to the tests, never collected as test or doctest modules."""

collect_ignore_glob = ["*.py"]
