"""Render a workload's argv and environment for one trial. No shell is ever involved."""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping, Sequence
from typing import Any


def format_value(value: Any) -> Any:
    """Bools are written as TOML spells them; other values keep their type for format specs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def placeholder_names(arg: str) -> list[str]:
    """Field names of ``{name}`` placeholders in one argument (``{{``/``}}`` are literal)."""
    return [field for _, field, _, _ in string.Formatter().parse(arg) if field is not None]


def format_field(value: Any, conversion: str | None, spec: str) -> str:
    """One placeholder as :meth:`str.format` renders it (``ValueError``/``TypeError`` when
    the format spec does not fit the value, e.g. ``{x:.2f}`` with a string)."""
    value = format_value(value)
    if conversion == "r":
        value = repr(value)
    elif conversion == "s":
        value = str(value)
    elif conversion == "a":
        value = ascii(value)
    return format(value, spec)


class CommandTemplate:
    """A parsed argv: constant arguments are kept as-is, the rest formatted per trial."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self._templated = [bool(placeholder_names(arg)) for arg in self.argv]

    def render(self, values: Mapping[str, Any], leave_out: Collection[str] = ()) -> tuple[str, ...]:
        """The argv for ``values``; an argument that names a param of ``leave_out`` (an
        inactive conditional param) is left out whole, so ``--threads={threads}`` vanishes
        with ``threads``."""
        shown = {k: format_value(v) for k, v in values.items()}
        return tuple(
            arg.format_map(shown) if templated else arg.replace("{{", "{").replace("}}", "}")
            for arg, templated in zip(self.argv, self._templated, strict=True)
            if not (templated and leave_out and set(placeholder_names(arg)) & set(leave_out))
        )


def param_env_name(name: str) -> str:
    """``TUNEGYM_PARAM_<NAME>``: upper case, non-alphanumerics as underscores."""
    return "TUNEGYM_PARAM_" + "".join(c if c.isalnum() else "_" for c in name).upper()


def trial_environment(
    params: Mapping[str, Any], env_names: Sequence[str], extra: Mapping[str, str]
) -> dict[str, str]:
    """Env overlay: each param as ``TUNEGYM_PARAM_<NAME>``, ``[env]`` entries by name."""
    overlay = {param_env_name(k): str(format_value(v)) for k, v in params.items()}
    overlay.update({k: str(format_value(params[k])) for k in env_names if k in params})
    overlay.update(extra)
    return overlay
