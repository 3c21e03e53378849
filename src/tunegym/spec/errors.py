"""Turn validation problems into :class:`SpecError` messages naming file and field path."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tunegym.errors import SpecError
from tunegym.spec.suggest import known_keys, unknown_key_hint

Loc = tuple[str | int, ...]

_SCALAR_TAGS = {"str", "int", "float", "bool"}
_PARAM_FORMS = "a value, a non-empty list of values, or a {low, high, dtype, log} table"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
MESSAGE_LIMIT = 600
"""Longest problem message shown: an error never echoes a huge input whole."""


def show_value(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (with the full length said)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


_LONG_WORD = re.compile(r"\S{100,}")


def _cut(message: str) -> str:
    """``message`` with every very long word shortened, at most :data:`MESSAGE_LIMIT` long."""
    message = _LONG_WORD.sub(lambda m: f"{m[0][:60]}… ({len(m[0])} characters)", message)
    if len(message) <= MESSAGE_LIMIT:
        return message
    return f"{message[: MESSAGE_LIMIT - 1]}… (message cut, {len(message)} characters)"


def _is_union_tag(part: str | int) -> bool:
    """Pydantic names union members in error locations; they are not field names."""
    return isinstance(part, str) and (
        part in _SCALAR_TAGS or part.startswith(("list[", "function-")) or "ContinuousParam" in part
    )


@dataclass(frozen=True)
class Problem:
    """One validation problem: the file it is in, the field path and what was expected."""

    file: Path
    loc: Loc
    message: str
    context: str = ""
    """Where the file was read from, e.g. ``job jobs[1] of scenario.toml``."""

    def render(self) -> str:
        where = format_loc(self.loc)
        message = _cut(self.message)
        if self.context:
            message += f" (in {self.context})"
        return f"{self.file}: {where}: {message}" if where else f"{self.file}: {message}"


MAX_SHOWN_KEY = 64
"""The longest key a field path shows whole (a pasted blob as a key is cut)."""


def format_loc(loc: Sequence[str | int]) -> str:
    """``("jobs", 1, "params", "level")`` -> ``jobs[1].params.level``; a key that is not a
    plain name is quoted: ``params['a.b']``, ``env['']``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part) or len(part) > MAX_SHOWN_KEY:
            out += f"[{show_value(part, 40)}]"  # a long key is cut, with its length
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from_validation(
    error: ValidationError, data: object, model: type[BaseModel] | None = None
) -> list[Problem]:
    """Convert a pydantic error into problems (file left blank).

    For a union (a param's value), only the errors of the member that fits the input's
    own type are kept; if none fits, one problem lists the accepted forms. With the
    ``model`` that was validated, an unknown key says which accepted key is close to it.
    """
    seen: set[tuple[Loc, str]] = set()
    problems: list[Problem] = []
    union_sites: dict[Loc, bool] = {}
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        site = _union_site(loc)
        keep = site is None or _branch_fits(loc, len(site), data)
        if site is not None:
            union_sites[site] = union_sites.get(site, False) or keep
        if not keep:
            continue
        clean = tuple(p for p in loc if not _is_union_tag(p))
        message = _message(item, model)
        if _non_finite(item.get("input")):
            message = f"must be a finite number, got {item['input']!r}"
        elif site is not None and any(p in _SCALAR_TAGS for p in loc[len(site) + 1 :]):
            message = f"expected a string, number or boolean, got {show_value(item.get('input'))}"
        _add(problems, seen, Problem(Path(), clean, message))
    for site, kept in union_sites.items():
        if not kept:
            got = show_value(_lookup(data, site))
            _add(problems, seen, Problem(Path(), site, f"expected {_PARAM_FORMS}, got {got}"))
    return problems


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _add(problems: list[Problem], seen: set[tuple[Loc, str]], problem: Problem) -> None:
    if (problem.loc, problem.message) not in seen:
        seen.add((problem.loc, problem.message))
        problems.append(problem)


def unknown_key_message(model: type[BaseModel] | None, loc: Loc, noun: str = "key") -> str:
    """``unknown key; did you mean 'max_steps'?`` for the last key of ``loc`` in ``model``
    (``noun``: what the key is, e.g. ``option for agent 'optuna'``)."""
    hint = unknown_key_hint(loc[-1], known_keys(model, loc[:-1])) if model and loc else ""
    if hint:
        return f"unknown {noun}; {hint}"
    return f"unknown {noun} (check the spelling; see the README's field reference)"


def _message(item: Any, model: type[BaseModel] | None) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return unknown_key_message(model, tuple(item["loc"]))
    if kind == "missing":
        return "required field is missing"
    if kind == "too_short" and item.get("input") in ([], ""):
        return "must not be empty"
    message = str(item["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind != "value_error" and "input" in item and not isinstance(item["input"], dict):
        message += f" (got {show_value(item['input'])})"
    return message


def _union_site(loc: Loc) -> Loc | None:
    for i, part in enumerate(loc):
        if _is_union_tag(part):
            return loc[:i]
    return None


def _branch_fits(loc: Loc, index: int, data: object) -> bool:
    tag = str(loc[index])
    node = _lookup(data, loc[:index])
    if isinstance(node, dict):
        return "ContinuousParam" in tag
    if isinstance(node, list):
        return "list[" in tag
    return tag in _SCALAR_TAGS and type(node).__name__ == tag


def _lookup(data: object, loc: Loc) -> object:
    node = data
    for part in loc:
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def raise_problems(problems: Iterable[Problem]) -> None:
    problems = list(problems)
    if not problems:
        return
    if len(problems) == 1:
        raise SpecError(problems[0].render())
    lines = "\n".join(f"  {p.render()}" for p in problems)
    raise SpecError(f"{len(problems)} problems in the spec:\n{lines}")
