"""A small package checked by tests/test_check_cli.py."""
