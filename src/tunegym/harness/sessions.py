"""Sessions of a harness server, the way NeMo Gym's resources servers keep them.

A session is opened by ``POST /seed_session`` and named by a cookie that the server sets on
that answer; NeMo Gym's clients send the cookie back on ``/verify`` and ``/close_session``.
The cookie is named ``<HarnessClass>___<server name>`` (NeMo Gym names it
``<ServerClass>___<config name>``, e.g. ``MCQAResourcesServer___nemo_mcqa``), so the
cookies of several servers behind one agent never collide. Its value is an opaque random
token; the session itself lives in the server's memory.

Two kinds of seed (see :func:`parse_seed`):

- *typed* (NeMo Gym's ``ResourcesSeedSessionRequest``, sent by 0.7.0's environment
  servers): ``resources_session_id``, ``episode_id``, ``task_id``, ``task_data``. Seeding
  an open id again for the same episode returns the same session; seeding an id that was
  closed (or closed before it was ever seeded) is refused, so a seed that loses a race
  with its close cannot bring the session back.
- *legacy* (any other object, e.g. the whole dataset row from an agent's ``/run``): a new
  session whose ``task_data`` is the body.

Closing releases the session (and the harness's per-session state); closing an unknown
id succeeds. Memory is bounded: at most ``max_sessions`` open sessions (the least recently
used one is closed first) and ``max_closed`` remembered closed ids; a session unused for
``idle_timeout`` seconds is closed. Legacy clients never close their sessions, which is
why the bound exists.

A harness reaches the session of the request it is serving with :func:`current_session`
(``None`` when the request carried no open session's cookie), and the rollout id of a
``/ng-rollout/<id>/...`` request with :func:`current_rollout_id`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tunegym.harness.payload import PayloadError

ROLLOUT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ATTEMPT_SUFFIX = re.compile(r"-a[1-9][0-9]*$")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

_SESSION: ContextVar[Session | None] = ContextVar("tunegym_harness_session", default=None)
_ROLLOUT: ContextVar[str | None] = ContextVar("tunegym_harness_rollout_id", default=None)


@dataclass
class Session:
    """One seeded session. ``state`` is the harness's own; the rest is read-only."""

    id: str
    cookie: str
    task_data: dict[str, Any]
    episode_id: dict[str, Any] | None = None
    task_id: dict[str, Any] | None = None
    typed: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class SeedRequest:
    """A validated ``/seed_session`` body (``typed`` for a ResourcesSeedSessionRequest)."""

    typed: bool
    session_id: str | None
    task_data: dict[str, Any]
    episode_id: dict[str, Any] | None = None
    task_id: dict[str, Any] | None = None


def current_session() -> Session | None:
    """The session of the request being served (``None`` outside one, or without a cookie)."""
    return _SESSION.get()


def current_rollout_id() -> str | None:
    """The ``<id>`` of a ``/ng-rollout/<id>/...`` request being served, else ``None``."""
    return _ROLLOUT.get()


@contextmanager
def session_context(session: Session | None) -> Iterator[None]:
    """Make ``session`` current (:func:`current_session`) for the code inside the block."""
    token = _SESSION.set(session)
    try:
        yield
    finally:
        _SESSION.reset(token)


@contextmanager
def rollout_context(rollout_id: str | None) -> Iterator[None]:
    """Make ``rollout_id`` current (:func:`current_rollout_id`) inside the block."""
    token = _ROLLOUT.set(rollout_id)
    try:
        yield
    finally:
        _ROLLOUT.reset(token)


def cookie_name(harness_class: str, server_name: str) -> str:
    """``<HarnessClass>___<server name>``; raises ``ValueError`` for unusable characters."""
    if not _NAME.match(server_name):
        raise ValueError(f"server name must be letters, digits, '_' or '-', got {server_name!r}")
    return f"{harness_class}___{server_name}"


def _text(body: dict[str, Any], key: str, loc: tuple[str | int, ...]) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError((*loc, key), "expected a non-empty string", kind="string_type")
    return value


def parse_episode_id(value: Any, loc: tuple[str | int, ...]) -> dict[str, Any]:
    """Check an ``episode_id`` (``rollout_id``, optional ``attempt`` >= 0) as NeMo Gym does."""
    if not isinstance(value, dict):
        raise PayloadError(loc, "expected an object with rollout_id and attempt")
    rollout_id = _text(value, "rollout_id", loc)
    if not ROLLOUT_ID_PATTERN.match(rollout_id) or _ATTEMPT_SUFFIX.search(rollout_id):
        raise PayloadError(
            (*loc, "rollout_id"),
            "expected letters, digits, '.', '_' or '-', starting with a letter or digit, "
            "not ending in '-a<N>'",
            kind="value_error",
        )
    attempt = value.get("attempt", 0)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise PayloadError((*loc, "attempt"), "expected an integer >= 0")
    extra = sorted(set(value) - {"rollout_id", "attempt"})
    if extra:
        raise PayloadError((*loc, extra[0]), "unexpected field", kind="extra_forbidden")
    return {"rollout_id": rollout_id, "attempt": attempt}


def _parse_task_id(value: Any, loc: tuple[str | int, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(loc, "expected an object with taskset and task_id")
    out = {"taskset": _text(value, "taskset", loc), "task_id": _text(value, "task_id", loc)}
    extra = sorted(set(value) - set(out))
    if extra:
        raise PayloadError((*loc, extra[0]), "unexpected field", kind="extra_forbidden")
    return out


def parse_seed(body: Any) -> SeedRequest:
    """Validate a seed body: typed when it names ``episode_id`` and ``task_id``, else legacy."""
    if not isinstance(body, dict):
        raise PayloadError((), "expected a JSON object")
    if "episode_id" in body and "task_id" in body:
        task_data = body.get("task_data")
        if not isinstance(task_data, dict):
            raise PayloadError(("task_data",), "expected an object", kind="dict_type")
        return SeedRequest(
            typed=True,
            session_id=_text(body, "resources_session_id", ()),
            task_data=task_data,
            episode_id=parse_episode_id(body["episode_id"], ("episode_id",)),
            task_id=_parse_task_id(body["task_id"], ("task_id",)),
        )
    session_id = body.get("resources_session_id")
    if session_id is not None and (not isinstance(session_id, str) or not session_id):
        raise PayloadError(("resources_session_id",), "expected a non-empty string")
    return SeedRequest(typed=False, session_id=session_id, task_data=body)


class SessionConflict(Exception):
    """A seed names a closed session, or an open one of another episode (HTTP 409)."""


class SessionStore:
    """Open sessions by id and by cookie, closed ids, and the bounds (see the module doc)."""

    def __init__(
        self,
        max_sessions: int = 100_000,
        max_closed: int = 100_000,
        idle_timeout: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or max_closed < 0 or idle_timeout <= 0:
            raise ValueError("max_sessions >= 1, max_closed >= 0 and idle_timeout > 0 required")
        self.max_sessions = max_sessions
        self.max_closed = max_closed
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._by_id: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self._by_cookie: dict[str, Session] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def existing(self, seed: SeedRequest) -> Session | None:
        """The open session a seed refers to again, ``None`` for a new one.

        Raises :class:`SessionConflict` for a closed id or another episode's open id.
        """
        if seed.session_id is None:
            return None
        if seed.session_id in self._closed:
            raise SessionConflict(f"session {seed.session_id!r} was closed; seed a new id")
        session = self._by_id.get(seed.session_id)
        if session is None or not seed.typed:
            return None
        if session.episode_id != seed.episode_id:
            raise SessionConflict(
                f"session {seed.session_id!r} is open for another episode ({session.episode_id})"
            )
        self.touch(session)
        return session

    def new(self, seed: SeedRequest) -> Session:
        """A session for ``seed`` (not yet stored: :meth:`add` it once the harness agreed)."""
        return Session(
            id=seed.session_id or f"tunegym-{secrets.token_hex(12)}",
            cookie=secrets.token_urlsafe(24),
            task_data=seed.task_data,
            episode_id=seed.episode_id,
            task_id=seed.task_id,
            typed=seed.typed,
            last_used=self.clock(),
        )

    def add(self, session: Session) -> None:
        old = self._by_id.pop(session.id, None)
        if old is not None:
            self._by_cookie.pop(old.cookie, None)
        self._by_id[session.id] = session
        self._by_cookie[session.cookie] = session

    def by_cookie(self, cookie: str | None) -> Session | None:
        """The open session of a cookie value (marked as used), or ``None``."""
        session = self._by_cookie.get(cookie) if cookie else None
        if session is not None:
            self.touch(session)
        return session

    def by_id(self, session_id: str) -> Session | None:
        return self._by_id.get(session_id)

    def touch(self, session: Session) -> None:
        session.last_used = self.clock()
        if session.id in self._by_id:
            self._by_id.move_to_end(session.id)

    def remove(self, session_id: str) -> None:
        """Forget an open session (if any) and remember its id as closed."""
        session = self._by_id.pop(session_id, None)
        if session is not None:
            self._by_cookie.pop(session.cookie, None)
        if self.max_closed:
            self._closed[session_id] = None
            self._closed.move_to_end(session_id)
            while len(self._closed) > self.max_closed:
                self._closed.popitem(last=False)

    def expired(self, incoming: int = 0) -> list[Session]:
        """Sessions to close now: idle too long, or the oldest beyond ``max_sessions``."""
        out: list[Session] = []
        cutoff = self.clock() - self.idle_timeout
        limit = self.max_sessions - incoming
        for session in self._by_id.values():
            if session.last_used >= cutoff and len(self._by_id) - len(out) <= limit:
                break
            out.append(session)
        return out
