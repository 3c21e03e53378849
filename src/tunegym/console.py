"""Writing to the user's terminal: output that went away (``| head``) is dropped, never an
error that stops a run."""

from __future__ import annotations

import os
import sys


def say(text: str) -> None:
    """Print ``text`` to stdout; if the reader went away, drop the rest of stdout."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        drop_stdout()


def drop_stdout() -> None:
    """Point stdout at /dev/null, so later writes and the flush at exit cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
