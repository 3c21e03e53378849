"""Plugin registries: agents and runners by name, from entry points (the one list).

tunegym's own agents and runners are registered exactly as a third party's are, in
``pyproject.toml``::

    [project.entry-points."tunegym.agents"]
    my_agent = "my_package.agents:MyAgent"

    [project.entry-points."tunegym.runners"]
    my_runner = "my_package.runners:MyRunner"

A plugin is named by ``module:Class`` and imported only when it is loaded, so listing
them is cheap and a plugin whose dependencies are missing only fails when used. This
module sits at the bottom of the import layers: the spec checks ask it for an agent's
or a runner's class (its options model, what it supports) without importing the rooms
that implement them. For a Python user or a test, :func:`register` adds a plugin to
this process; tunegym's own plugins (those whose module is in the ``tunegym`` package)
cannot be replaced, and an installed package cannot shadow them either.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from tunegym.errors import SpecError, import_failure

AGENTS = "tunegym.agents"
RUNNERS = "tunegym.runners"
_KINDS = {AGENTS: "agent", RUNNERS: "runner"}

_registered: dict[str, dict[str, str]] = {AGENTS: {}, RUNNERS: {}}


@cache
def _entry_points(group: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=group)}


def builtin(group: str) -> dict[str, str]:
    """tunegym's own plugins of ``group`` (name -> ``module:Class``)."""
    return {
        name: target
        for name, target in _entry_points(group).items()
        if target.partition(":")[0].split(".")[0] == "tunegym"
    }


def available(group: str) -> dict[str, str]:
    """Plugin name -> ``module:Class``, sorted by name; tunegym's own win."""
    found = {**_entry_points(group), **_registered[group], **builtin(group)}
    return dict(sorted(found.items()))


def register(group: str, name: str, target: str) -> None:
    """Register ``module:Class`` as plugin ``name`` of ``group`` in this process."""
    if name in builtin(group):
        raise ValueError(f"{name!r} is a built-in {_KINDS[group]} and cannot be replaced")
    _registered[group][name] = target


def unregister(group: str, name: str) -> None:
    _registered[group].pop(name, None)


def load(group: str, name: str) -> Any:
    """Import the class of plugin ``name``; a ``SpecError`` lists the known names."""
    target = available(group).get(name)
    kind = _KINDS[group]
    if target is None:
        known = ", ".join(available(group))
        raise SpecError(f"unknown {kind} type {name!r}; known {kind}s: {known}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a plugin package that is broken, or lacks a dependency
        raise SpecError(
            f"{kind} {name!r} ({target}): cannot import module {module_name!r}: "
            f"{import_failure(exc)}"
        ) from exc
    if not hasattr(module, attr):
        raise SpecError(f"{kind} {name!r} ({target}): module {module_name!r} has no {attr!r}")
    return getattr(module, attr)
