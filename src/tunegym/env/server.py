"""``GymServer``: the protocol of an in-process live environment, and its loader.

A live workload (``mode = "live"``) names a class as ``server = "package.module:Class"``.
The class is imported (from ``sys.path``, then from the workload's folder), checked
against the protocol, and built with the ``[server_args]`` its ``__init__`` accepts.

Protocol (duck-typed; no base class needed)::

    action_space() -> dict              # {name: [values] | {low, high, dtype, log} | value}
    observation_space() -> list[str]    # metric names
    reset(seed=None, options=None) -> (observation: dict, info: dict)
    step(params) -> (observation: dict, reward: float | None, terminated: bool,
                     truncated: bool, info: dict)

``params`` holds every dimension of the action, the fixed values and the env params of
the step. A ``None`` reward means "compute it from the observation with the workload's
reward". Every problem with the class or what it declares is a :class:`ServerError`
(a :class:`~tunegym.errors.SpecError`: bad input, exit code 2) naming the server path.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from tunegym.errors import SpecError, TunegymWarning, import_failure
from tunegym.spec.errors import format_loc, problems_from_validation
from tunegym.spec.models import SERVER_PATH, ContinuousParam, ParamValue

PROTOCOL_METHODS = ("action_space", "observation_space", "reset", "step")


@runtime_checkable
class GymServer(Protocol):
    """An environment that lives in this process (a simulator, a client of a live service)."""

    def action_space(self) -> dict[str, Any]:
        """Dimensions in the same forms as ``[params]``: list, ``{low, high, ...}`` or value."""
        ...

    def observation_space(self) -> list[str]:
        """The metric names an observation holds."""
        ...

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """Start an episode; return its first observation and an info dict."""
        ...

    def step(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, float], float | None, bool, bool, dict[str, Any]]:
        """Apply one step's params: ``(observation, reward, terminated, truncated, info)``."""
        ...


class ServerError(SpecError):
    """A live server that cannot be imported, built, or declares its spaces wrongly."""


class ServerArgsWarning(TunegymWarning):
    """``[server_args]`` entries the server's ``__init__`` does not accept (they are dropped)."""


def import_server_class(path: str, search_dir: Path | None = None) -> type:
    """Import ``package.module:Class`` and check it implements :class:`GymServer`.

    The module is looked up on ``sys.path`` first, then in ``search_dir`` (the workload's
    folder), which is on ``sys.path`` only while the module is imported. Raises
    :class:`ServerError` naming the path: bad format, import failure (with the import
    error), missing attribute, not a class, or missing protocol methods (listed).
    """
    if not SERVER_PATH.match(path):
        raise ServerError(
            f"server {path!r}: expected 'package.module:Class' (a dotted module path, a colon, "
            "and the class name)"
        )
    module_name, _, attr_path = path.partition(":")
    module = _import_module(path, module_name, search_dir)
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ServerError(
                f"server {path!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) "
                f"has no attribute {attr_path!r}"
            )
        target = getattr(target, part)
    if not inspect.isclass(target):
        kind = type(target).__name__
        raise ServerError(f"server {path!r}: {attr_path!r} is a {kind}, not a class")
    missing = [name for name in PROTOCOL_METHODS if not callable(getattr(target, name, None))]
    if missing:
        raise ServerError(
            f"server {path!r}: class {target.__name__} does not implement the GymServer protocol; "
            f"missing method(s): {', '.join(missing)} (see tunegym.gym.GymServer)"
        )
    return target


def _import_module(path: str, module_name: str, search_dir: Path | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Retry from the workload's folder only when the module itself (or its package) is
        # what was not found; a missing dependency inside the module is the real error.
        if search_dir is None or not _names_module(exc, module_name):
            raise _import_error(path, module_name, exc) from exc
        first = exc
    except Exception as exc:  # a syntax error or a failing import inside the module
        raise _import_error(path, module_name, exc) from exc
    folder = str(search_dir)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if _names_module(exc, module_name):
            raise _import_error(path, module_name, first, also=search_dir) from exc
        raise _import_error(path, module_name, exc) from exc
    except Exception as exc:
        raise _import_error(path, module_name, exc) from exc
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _names_module(exc: ModuleNotFoundError, module_name: str) -> bool:
    """Whether ``exc`` is about ``module_name`` itself or one of its parent packages."""
    return exc.name is not None and (
        module_name == exc.name or module_name.startswith(exc.name + ".")
    )


def _import_error(
    path: str, module_name: str, exc: BaseException, also: Path | None = None
) -> ServerError:
    where = f" (looked on sys.path and in {also})" if also is not None else ""
    return ServerError(
        f"server {path!r}: cannot import module {module_name!r}{where}: {import_failure(exc)}"
    )


def build_server(cls: type, args: Mapping[str, Any], path: str) -> Any:
    """Build ``cls`` with the ``args`` its ``__init__`` accepts.

    All of them when it takes ``**kwargs``; otherwise those it names, and the rest are
    reported in a :class:`ServerArgsWarning`. A required argument missing from ``args``
    is a :class:`ServerError` naming it. Exceptions raised by ``__init__`` itself propagate.
    """
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # a builtin or C class: pass everything
        return cls(**args)
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        accepted = dict(args)
    else:
        names = {
            p.name
            for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }
        accepted = {k: v for k, v in args.items() if k in names}
        ignored = sorted(set(args) - names)
        if ignored:
            warnings.warn(
                f"server {path!r}: server_args {', '.join(ignored)} ignored; "
                f"{cls.__name__}.__init__ accepts only "
                f"{', '.join(sorted(names)) or 'no arguments'}",
                ServerArgsWarning,
                stacklevel=2,
            )
    try:
        signature.bind(**accepted)
    except TypeError as exc:
        raise ServerError(
            f"server {path!r}: cannot build {cls.__name__} from server_args: {exc} "
            "(add it to [server_args])"
        ) from None
    return cls(**accepted)


def load_server(path: str, args: Mapping[str, Any], search_dir: Path | None = None) -> Any:
    """Import, check and build the server named ``path`` (see :func:`import_server_class`)."""
    return build_server(import_server_class(path, search_dir), args, path)


class _DeclaredSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dims: dict[str, ParamValue]  # the [params] forms; candidates must be distinct


def read_action_space(server: Any, path: str) -> dict[str, ParamValue]:
    """The validated ``action_space()`` of ``server``; :class:`ServerError` says what is wrong.

    Each dimension takes a ``[params]`` form: a non-empty list of distinct values, a
    ``{low, high, dtype, log}`` table, or a scalar (fixed). At least one dimension must
    be a list or a range, so there is something to choose.
    """
    raw = server.action_space()
    if not isinstance(raw, Mapping):
        raise ServerError(
            f"server {path!r}: action_space() must return a dict "
            f"{{name: [values] | {{low, high, dtype, log}} | value}}, got {type(raw).__name__}"
        )
    bad_keys = [k for k in raw if not isinstance(k, str) or not k]
    if bad_keys:
        raise ServerError(
            f"server {path!r}: action_space() keys must be non-empty strings, got {bad_keys!r}"
        )
    try:
        declared = _DeclaredSpace.model_validate({"dims": dict(raw)})
    except ValidationError as exc:
        problems = problems_from_validation(exc, {"dims": dict(raw)}, _DeclaredSpace)
        details = "; ".join(
            f"{format_loc(p.loc[1:]) or 'action_space()'}: {p.message}" for p in problems
        )
        raise ServerError(f"server {path!r}: action_space() is not valid: {details}") from None
    dims = declared.dims
    if not any(isinstance(v, list | ContinuousParam) for v in dims.values()):
        raise ServerError(
            f"server {path!r}: action_space() declares nothing to choose "
            f"(every entry of {sorted(dims)} is a fixed value); give a list or a range"
        )
    return dims


def read_observation_space(server: Any, path: str) -> list[str]:
    """The validated ``observation_space()``: a non-empty list of distinct metric names."""
    raw = server.observation_space()
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ServerError(
            f"server {path!r}: observation_space() must return a list of metric names, got {raw!r}"
        )
    names = list(raw)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ServerError(
            f"server {path!r}: observation_space() must return a non-empty list of non-empty "
            f"metric names, got {names!r}"
        )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ServerError(
            f"server {path!r}: observation_space() names {', '.join(duplicates)} more than once"
        )
    return names
