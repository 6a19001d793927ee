"""Deliberate typing-contract mistakes: excluded from the clean example set."""
