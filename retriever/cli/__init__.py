"""The ``retriever`` command line."""
