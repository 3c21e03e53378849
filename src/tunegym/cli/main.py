"""``tunegym`` entry point: parse arguments, call the library, map errors to exit codes.

Each command lives in its own module under ``tunegym.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function taking
the parsed namespace and returning an exit code). Command modules import heavy
libraries inside their handlers so ``tunegym --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tunegym.cli.common import dispatch
from tunegym.version import __version__

COMMAND_MODULES = ("run", "verify", "list_cmd", "harness", "report", "show", "export", "compare")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunegym",
        description=(
            "Turn anything that runs into a gym environment and find its best configuration."
        ),
    )
    parser.add_argument("--version", action="version", version=f"tunegym {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tunegym.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tunegym.cli.{name}":
                continue  # command not built yet in this checkout
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
