"""Bounds on values a user gives (spec fields and their command-line overrides).

Kept apart from the pydantic models so the CLI can check ``--seed`` and friends without
importing pydantic (``tunegym --help`` stays fast).
"""

from __future__ import annotations

MAX_SEED = 2**31 - 1
"""Seeds are offset by the iteration and must stay below 2**32 for numpy and Optuna."""
MAX_STEPS = 10**9
MAX_ITERATIONS = 100_000
MAX_PARALLEL = 4096
MAX_TIMEOUT_S = 1e9
NAME_MAX_LEN = 100
"""Longest workload, job or scenario name: it becomes a folder name (plus a timestamp)."""
