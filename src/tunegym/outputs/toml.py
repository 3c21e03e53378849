"""TOML output (``best_config.toml``) through ``tomli-w``, for the values tunegym writes.

``tomli-w`` writes what ``tomllib`` reads back unchanged; this adds the two things
tunegym's data needs before it: ``None`` leaves a key out (TOML has no null), and NumPy
scalars are written as the Python numbers they are.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import tomli_w


def dumps(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document ending in a newline (``TypeError`` for a value TOML
    cannot hold)."""
    text = tomli_w.dumps(_plain(data))
    return text if text.endswith("\n") else text + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value  # tomli-w names the type it cannot write
