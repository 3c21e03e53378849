"""Pieces every command shares: argument types and the error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tunegym.errors import TunegymError


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]`` (the spec's own bounds)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {text[:40]}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


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
    except Exception as exc:
        print(f"tunegym: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
