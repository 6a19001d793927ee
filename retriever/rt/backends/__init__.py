"""Execution backends. Each one only starts processes and moves bytes; the sampling,
stepping, publishing, lifecycle and lag policy come from :mod:`retriever.rt`."""
