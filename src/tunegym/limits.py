"""Bounds on values a user gives (spec fields and their command-line overrides).

Kept apart from the pydantic models so the CLI can check ``--seed`` and friends without
importing pydantic (``tunegym --help`` stays fast).
"""

from __future__ import annotations

from tunegym.errors import UsageError

MAX_SEED = 2**31 - 1
"""Seeds are offset by the iteration and must stay below 2**32 for numpy and Optuna."""
MAX_STEPS = 10**9
MAX_ITERATIONS = 100_000
MAX_PARALLEL = 4096
MAX_TIMEOUT_S = 1e9
NAME_MAX_LEN = 100
"""Longest workload, job or scenario name: it becomes a folder name (plus a timestamp)."""


def check_whole(name: str, value: object, low: int, high: int) -> None:
    """A :class:`UsageError` naming ``name`` unless ``value`` is ``None`` or a whole number
    (not a bool) in ``[low, high]``: the Python API's check of what a flag's type checks."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")


def check_seconds(name: str, value: object, *, above_zero: bool) -> None:
    """A :class:`UsageError` naming ``name`` unless ``value`` is ``None`` or a number of
    seconds in ``[0, MAX_TIMEOUT_S]`` (not NaN), and above 0 when ``above_zero``."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_TIMEOUT_S  # also refuses NaN
        or (above_zero and value == 0)
    ):
        low = "more than 0" if above_zero else "0"
        raise UsageError(f"{name} must be seconds from {low} to {MAX_TIMEOUT_S:g}, got {value!r}")
