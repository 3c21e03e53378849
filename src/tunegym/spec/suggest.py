"""What to say about an unknown key: the keys a pydantic model accepts where it was found,
and the one the user most likely meant (``agent.max_step``: did you mean ``max_steps``?)."""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["known_keys", "unknown_key_hint"]

LISTED_KEYS = 12
"""At most this many accepted keys are listed when none is close to the unknown one."""


def known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys accepted by the table at ``loc`` (a path of keys and list indices from
    ``model``'s root, as pydantic gives it, union member tags included), in declaration
    order; ``[]`` when ``loc`` does not lead to a model (a free-form table)."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    tables = [m for m in _members(annotation) if _is_model(m)]
    return [field.alias or name for name, field in tables[0].model_fields.items()] if tables else []


def unknown_key_hint(key: str | int, known: Sequence[str]) -> str:
    """``did you mean 'max_steps'?`` when one of ``known`` is close to ``key``; else the
    keys accepted there when they are few; else ``""``."""
    if not known:
        return ""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if len(known) <= LISTED_KEYS:
        return f"expected one of: {', '.join(known)}"
    return ""


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _members(annotation: Any) -> list[Any]:
    """The types ``annotation`` may be: a union's members, an ``Annotated``'s base."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    """The type found at ``part`` inside a value of type ``annotation`` (``None``: none)."""
    for member in _members(annotation):
        origin = get_origin(member) or member
        if _is_model(member) and isinstance(part, str):
            field_type = _field_type(member, part)
            if field_type is not None:
                return field_type
            if member.__name__ in part:  # pydantic's tag for this member of a union
                return member
        elif isinstance(origin, type) and isinstance(part, int) and _is_sequence(origin):
            args = get_args(member)
            return args[0] if args else None
        elif isinstance(origin, type) and isinstance(part, str) and issubclass(origin, Mapping):
            args = get_args(member)
            return args[1] if len(args) == 2 else None
    return None


def _is_sequence(origin: type) -> bool:
    return issubclass(origin, Sequence) and not issubclass(origin, str)


def _field_type(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field.annotation
    return None
