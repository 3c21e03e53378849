"""The harness contract: a dataset of tasks plus an async ``verify`` that scores a response.

A :class:`GymHarness` is everything a benchmark needs to be served as a NeMo Gym resource
server (see :mod:`tunegym.harness.server`) or used as a live environment
(:class:`tunegym.harness.env.HarnessGymServer`). This module imports nothing heavy.
"""

from __future__ import annotations

import importlib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunegym.errors import TunegymError, UsageError, import_failure
from tunegym.harness.payload import PayloadError

if TYPE_CHECKING:
    from tunegym.harness.sessions import Session

#: Raise from ``verify()`` when a row field is unusable: the server answers 422 naming it,
#: ``RequestError(("options", 0), "expected an object")``.
RequestError = PayloadError


class _AsGiven:
    """The default of :attr:`VerifyResult.expected_answer`: echo the request's value."""

    def __repr__(self) -> str:
        return "AS_GIVEN"


AS_GIVEN: Any = _AsGiven()

# Short names for the harnesses shipped with tunegym; any ``package.module:Class`` works too.
BUNDLED_HARNESSES: dict[str, str] = {
    "arithmetic": "tunegym.harness.bundled.arithmetic:ArithmeticHarness",
    "mcqa": "tunegym.harness.bundled.mcqa:MCQAHarness",
}


@dataclass(frozen=True)
class VerifyResult:
    """The score of one response.

    ``reward`` is a finite float (1.0/0.0 for pass/fail benchmarks); ``extracted_answer``
    is what the harness read out of the response (``None`` when it found none);
    ``details`` holds JSON-serialisable diagnostics and is returned as ``verify_details``;
    ``expected_answer`` replaces the request's in the answer when given (NeMo Gym's mcqa
    returns the normalised letter).
    """

    reward: float
    extracted_answer: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    expected_answer: Any = AS_GIVEN

    def __post_init__(self) -> None:
        reward = self.reward
        if isinstance(reward, bool) or not isinstance(reward, int | float):
            raise TypeError(f"VerifyResult.reward must be a number, got {type(reward).__name__}")
        if not math.isfinite(float(reward)):
            raise ValueError(f"VerifyResult.reward must be finite, got {reward!r}")
        object.__setattr__(self, "reward", float(reward))


DEFAULT_VERIFY_TIMEOUT_S = 300.0
"""How long one ``verify()`` may take by default (an LLM judge can take minutes; a
verifier stuck for ever would hold its request, and in ``collect`` the whole run)."""


def verify_timeout(harness: GymHarness, override: float | None = None) -> float | None:
    """The limit for ``harness``'s verify calls: ``override`` if given, else its own.

    A :class:`UsageError` naming the harness when its ``verify_timeout_s`` is not ``None``
    or a number of seconds above 0.
    """
    if override is not None:
        return override
    limit = getattr(harness, "verify_timeout_s", DEFAULT_VERIFY_TIMEOUT_S)
    if limit is None:
        return None
    usable = isinstance(limit, int | float) and not isinstance(limit, bool)
    if not usable or not limit > 0 or limit != limit:
        raise UsageError(
            f"harness {harness.name!r}: verify_timeout_s must be None or seconds above 0, "
            f"got {limit!r}"
        )
    return None if limit == math.inf else float(limit)


class GymHarness(ABC):
    """A benchmark's scoring logic: ``name``, ``get_dataset()`` and ``async verify()``.

    Rows returned by :meth:`get_dataset` hold ``responses_create_params`` (an OpenAI
    Responses request, at least ``{"input": [{"role": "user", "content": ...}]}``),
    ``expected_answer`` and any extra fields; the extra fields come back to :meth:`verify`
    as keyword arguments, so implementations should accept ``**row_fields`` they ignore.
    ``verify`` may raise: the server turns that into a masked ``reward: 0.0`` sample, or
    into a 422 naming the field when it raises :data:`RequestError`.

    Optional hooks, all with defaults: :meth:`seed_session` and :meth:`close_session`
    (per-session state; see :mod:`tunegym.harness.sessions`), :meth:`compute_metrics`
    and :meth:`key_metrics` (what ``/aggregate_metrics`` adds and headlines, as NeMo Gym's
    resources servers override ``compute_metrics``/``get_key_metrics``).
    """

    #: Identifier used for file names (``<name>.jsonl``) and gym config instance names.
    name: str = "harness"

    #: Seconds one :meth:`verify` call may take before its sample is masked as a
    #: ``verifier_error`` saying so (``None``: no limit). ``serve`` and ``collect`` take
    #: ``--verify-timeout`` to override it.
    verify_timeout_s: float | None = DEFAULT_VERIFY_TIMEOUT_S

    @abstractmethod
    def get_dataset(self) -> list[dict[str, Any]]:
        """Return the task rows (each a JSON-serialisable dict). Called once per server."""

    @abstractmethod
    async def verify(
        self, response_text: str, expected_answer: Any, **row_fields: Any
    ) -> VerifyResult:
        """Score ``response_text`` against ``expected_answer`` (and the row's other fields)."""

    async def seed_session(self, session: Session) -> None:  # noqa: B027 (optional hook)
        """Set up per-session state in ``session.state`` (``session.task_data`` is the row).

        Called once per new session, before the seed is answered; raising makes the seed
        fail with 503 (the client may retry) and no session is opened. Default: nothing.
        """

    async def close_session(self, session: Session) -> None:  # noqa: B027 (optional hook)
        """Release what :meth:`seed_session` set up. Raising keeps the session open (503).

        Also called for sessions closed because they idled too long or the server holds
        too many. Default: nothing.
        """

    def compute_metrics(self, tasks: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """Extra ``agent_metrics`` from the scored verify responses, grouped by task.

        Default: pass@k, pass@1[avg-of-k] and their spread across runs of ``reward``
        (:func:`tunegym.harness.passk.pass_majority_metrics`, percentages).
        """
        from tunegym.harness.passk import pass_majority_metrics

        return pass_majority_metrics(tasks, score_fn=lambda r: {"reward": r["reward"]})

    def key_metrics(self, agent_metrics: dict[str, Any]) -> dict[str, Any]:
        """The headline subset of ``agent_metrics``.

        Default: ``mean/reward`` and the highest-k ``pass@{k}/reward`` and
        ``pass@1[avg-of-{k}]/reward``.
        """
        from tunegym.harness.passk import highest_k_metrics

        key = {k: v for k, v in agent_metrics.items() if k == "mean/reward"}
        key.update(highest_k_metrics(agent_metrics, "pass@{k}", score_names=["reward"]))
        key.update(highest_k_metrics(agent_metrics, "pass@1[avg-of-{k}]", score_names=["reward"]))
        return key


def load_dataset(harness: GymHarness) -> list[dict[str, Any]]:
    """``harness.get_dataset()`` checked to be a list of row objects (what ``serve`` and
    ``export-data`` read). A :class:`UsageError` naming the harness when it returns
    anything else or refuses a setting (a ``dataset_path`` it cannot read), a
    :class:`TunegymError` when it fails otherwise.
    """
    try:
        rows = harness.get_dataset()
        unusable = rows is None or isinstance(rows, str | bytes | Mapping)
        dataset = [] if unusable else list(rows)
    except UsageError as exc:
        raise UsageError(f"harness {harness.name!r}: {exc}") from exc
    except Exception as exc:
        raise TunegymError(
            f"harness {harness.name!r}: get_dataset() failed: {type(exc).__name__}: {exc}"
        ) from exc
    if unusable:
        raise UsageError(
            f"harness {harness.name!r}: get_dataset() returned {type(rows).__name__}, "
            "not a list of row objects"
        )
    for i, row in enumerate(dataset):
        if not isinstance(row, dict):
            raise UsageError(
                f"harness {harness.name!r}: dataset row {i} is {type(row).__name__}, not a dict"
            )
    return dataset


def prompt_text(row: Mapping[str, Any]) -> str:
    """The user-visible prompt of a dataset row: the text of its input messages, joined."""
    params = row.get("responses_create_params") or {}
    messages = params.get("input") if isinstance(params, Mapping) else None
    if isinstance(messages, str):
        return messages
    texts: list[str] = []
    for message in messages or []:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, Mapping) and isinstance(part.get("text"), str)
            )
    return "\n".join(texts)


def resolve_harness_path(path: str) -> str:
    """Expand a bundled short name (``arithmetic``) to its ``package.module:Class`` path."""
    return BUNDLED_HARNESSES.get(path, path)


def load_harness(path: str, kwargs: Mapping[str, Any] | None = None) -> GymHarness:
    """Import ``package.module:Class`` (or a bundled short name) and construct it with ``kwargs``.

    Raises :class:`UsageError` naming the path when the module cannot be imported (it is
    missing, or its top level raises: the message names the file and line, see
    :func:`~tunegym.errors.import_failure`), the attribute is missing, the object is not
    a :class:`GymHarness`, or the kwargs do not fit its constructor, and
    :class:`TunegymError` when the constructor itself fails.
    Kwarg values never appear in the message (they may hold secrets).
    """
    full = resolve_harness_path(path)
    module_name, sep, attr = full.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(
            f"harness {path!r}: expected 'package.module:Class' or one of "
            f"{sorted(BUNDLED_HARNESSES)}"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # not found, or its top level raised (a syntax error, ...)
        raise UsageError(
            f"harness {path!r}: cannot import module {module_name!r}: {import_failure(exc)}"
        ) from exc
    except SystemExit as exc:  # serve exited with its code and said nothing
        raise UsageError(
            f"harness {path!r}: importing module {module_name!r} called sys.exit({exc.code!r})"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(
                f"harness {path!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    try:
        harness = target(**dict(kwargs or {}))
    except TypeError as exc:
        keys = ", ".join(sorted(kwargs or {})) or "none"
        raise UsageError(f"harness {path!r}: cannot construct with kwargs ({keys}): {exc}") from exc
    except TunegymError:
        raise
    except Exception as exc:
        raise TunegymError(
            f"harness {path!r}: constructor failed: {type(exc).__name__}: {exc}"
        ) from exc
    except SystemExit as exc:
        raise TunegymError(
            f"harness {path!r}: constructor failed: it called sys.exit({exc.code!r})"
        ) from exc
    if not isinstance(harness, GymHarness):
        raise UsageError(f"harness {path!r}: {type(harness).__name__} is not a GymHarness")
    return harness
