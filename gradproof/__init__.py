"""gradproof: the command line and (later) the report writer over derive/, graphs/ and verify/."""

__version__ = "0.1.0"
