"""Regenerate docs/cli.md from the live CLI, plugin commands included:

    uv run python docs/gen_cli.py > docs/cli.md
"""

import typer
from typer.cli import get_docs_for_click

from mlops_core import cli

cli._load_plugin_commands()
command = typer.main.get_command(cli.app)
ctx = typer.Context(command, info_name="mlops")
print("# The `mlops` command\n")
print("Generated from the CLI by `docs/gen_cli.py`; commands after `demo` come from plugins and are")
print("present when their package is installed. Every command takes `--help`.\n")
print(get_docs_for_click(obj=command, ctx=ctx, name="mlops", title="mlops"))
