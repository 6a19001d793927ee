"""Demos shipped with retriever."""
