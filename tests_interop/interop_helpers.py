"""Small helpers shared by the interop tests."""

from __future__ import annotations

import math
from typing import Any


def verify_body(row: dict[str, Any], response: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What NeMo Gym's agent sends to /verify: the row plus the model's response."""
    return {**row, "response": response, **extra}


def cookies_of(response: Any) -> dict[str, str]:
    """An aiohttp response's cookies, as NeMo Gym's servers collect them."""
    return {str(name): str(morsel.value) for name, morsel in response.cookies.items()}


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where two JSON values differ (numbers compared to 1e-9 relative), as readable lines."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = [f"{path}: only NeMo Gym has {k!r}" for k in sorted(set(theirs) - set(ours))]
        out += [f"{path}: only tunegym has {k!r}" for k in sorted(set(ours) - set(theirs))]
        for key in sorted(set(ours) & set(theirs)):
            out += differences(ours[key], theirs[key], f"{path}.{key}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items vs {len(theirs)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    numbers = (int, float)
    if isinstance(ours, numbers) and isinstance(theirs, numbers) and not isinstance(ours, bool):
        if math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9):
            return []
    elif ours == theirs:
        return []
    return [f"{path}: tunegym {ours!r} vs NeMo Gym {theirs!r}"]
