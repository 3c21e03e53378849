"""Pure-ASGI middlewares of the harness server (cheap: no request objects are built).

- :class:`RolloutPrefix`: NeMo Gym's observability paths. With ``observability_enabled``
  its clients call ``/ng-rollout/<rollout id>/verify`` (and the same prefix before every
  resources route); the prefix is stripped and the id made current
  (:func:`tunegym.harness.sessions.current_rollout_id`).
- :class:`BodyDeadline`: a request's whole body must arrive within ``timeout`` seconds of
  its headers, else 408 (a slow-drip client cannot hold a handler forever). The headers
  themselves are timed by :mod:`tunegym.harness.http_timeouts`.
- :class:`BodyLimit`: 413 for a body over ``limit`` bytes, by its ``Content-Length``
  before a byte of it is read, or as a chunked one passes the limit (one request must not
  take the server's memory).
- :class:`BearerAuth`: 401 unless ``Authorization: Bearer <token>`` (health paths are open).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
from typing import Any

from tunegym.harness.sessions import ROLLOUT_ID_PATTERN, rollout_context

ROLLOUT_PATH_PREFIX = "ng-rollout"
_PREFIXED = re.compile(
    rf"^/{ROLLOUT_PATH_PREFIX}/(?P<id>{ROLLOUT_ID_PATTERN.pattern.strip('^$')})(?P<rest>/.*)$"
)


async def send_json(send: Any, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    """Send a complete JSON response through raw ASGI ``send``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RolloutPrefix:
    """Strip ``/ng-rollout/<id>`` from the path and make ``<id>`` the current rollout."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        match = _PREFIXED.match(path) if path.startswith("/ng-rollout/") else None
        if match is None:
            await self.app(scope, receive, send)
            return
        rest = match.group("rest")
        scope = {**scope, "path": rest, "raw_path": rest.encode()}
        with rollout_context(match.group("id")):
            await self.app(scope, receive, send)


class BodyDeadline:
    """408 when the request body is not complete ``timeout`` seconds after the headers.

    One timer per request (armed at the start, cancelled when the last body chunk
    arrives): when it fires first, the request's task is cancelled and answered 408.
    """

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        self.reply = (
            b'{"detail":[{"loc":["body"],"msg":"body: not received within '
            + f"{timeout:g}".encode()
            + b' s","type":"timeout"}]}'
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        state = {"complete": False, "expired": False}

        def expire() -> None:
            if not state["complete"]:
                state["expired"] = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.timeout, expire)

        async def tracked_receive() -> Any:
            message = await receive()
            if not state["complete"] and (
                message["type"] != "http.request" or not message.get("more_body", False)
            ):
                state["complete"] = True
                timer.cancel()
            return message

        try:
            await self.app(scope, tracked_receive, send)
        except asyncio.CancelledError:
            if not state["expired"]:
                raise
            task.uncancel()
            # Cancelled while its body was incomplete: the app has not answered yet (were
            # it streaming an answer already, the server refuses a second start).
            with contextlib.suppress(RuntimeError):
                await send_json(send, 408, self.reply, [(b"connection", b"close")])
        finally:
            timer.cancel()


class _BodyTooLarge(Exception):
    """Raised from ``receive`` once a body passes the limit (caught by :class:`BodyLimit`)."""


class BodyLimit:
    """413 for a request body over ``limit`` bytes (see the module docstring)."""

    def __init__(self, app: Any, limit: int, option: str = "") -> None:
        self.app = app
        self.limit = limit
        hint = f" ({option})" if option else ""
        self.reply = (
            b'{"detail":[{"loc":["body"],"msg":"body: larger than '
            + f"{limit} bytes, the most this server reads{hint}".encode()
            + b'","type":"too_large"}]}'
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        with contextlib.suppress(RuntimeError):  # an answer had started: nothing to add
            await send_json(send, 413, self.reply, [(b"connection", b"close")])


class BearerAuth:
    """401 unless ``Authorization: Bearer <token>``; ``open_paths`` need no token.

    The scheme is case-insensitive (``bearer``, ``BEARER``: RFC 7235), the token exact.
    """

    def __init__(self, app: Any, token: str, open_paths: frozenset[str]) -> None:
        self.app = app
        self.expected = token.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, credentials = given.partition(b" ")
        if hmac.compare_digest(credentials.lstrip(b" "), self.expected) and (
            scheme.lower() == b"bearer"
        ):
            await self.app(scope, receive, send)
            return
        body = b'{"detail":"missing or invalid bearer token"}'
        await send_json(send, 401, body, [(b"www-authenticate", b"Bearer")])
