"""Thin typer commands: resolve the config, call one stage, render its result.

Modules here import only typer, rich and yaml at module level, so
``bit --help`` stays instant (see tests/test_cli_help.py).
"""
