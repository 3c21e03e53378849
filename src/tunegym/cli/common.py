"""Pieces every command shares: argument types and the error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import sys

from tunegym.console import drop_stdout, say
from tunegym.errors import TunegymError

__all__ = ["dispatch", "positive_int", "say"]


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command's handler and map what it raises to an exit code.

    Bad input (a :class:`TunegymError`) prints one ``tunegym: error:`` line and exits with
    its code (2 for bad input); Ctrl-C exits 130; a bug prints one line and exits 1 (a
    run's ``failure.txt`` has the traceback).
    """
    try:
        return int(args.handler(args) or 0)
    except TunegymError as exc:
        print(f"tunegym: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tunegym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # whoever read our output stopped reading: not an error
        drop_stdout()
        return 0
    except Exception as exc:
        print(f"tunegym: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
