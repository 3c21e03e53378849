"""``create_app``: a :class:`GymHarness` as a NeMo Gym resource server (FastAPI).

Routes (all JSON; each also answers under NeMo Gym's ``/ng-rollout/<id>/`` prefix):

- ``POST /seed_session``: opens a session and sets its cookie (see
  :mod:`tunegym.harness.sessions`). A ``ResourcesSeedSessionRequest`` gets
  ``{"resources_session_id": id}``; any other object (a dataset row) gets ``{}`` (or its
  ``resources_session_id`` echoed). 409 for a closed id, 503 when the harness's
  ``seed_session`` fails.
- ``POST /verify``: see :mod:`tunegym.harness.payload` for the accepted forms and
  :mod:`tunegym.harness.verifying` for the answer; a raising harness gives a masked 200.
  The session named by the cookie is current while the harness verifies.
- ``POST /aggregate_metrics``: ``{"verify_responses": [...]}``, see :mod:`.metrics`;
  computed on a worker thread so the server keeps answering meanwhile.
- ``POST /close_session``: ``{"resources_session_id": id, ...}`` closes that session and
  echoes the id; any other object closes the cookie's session and answers ``{}``.
- ``GET /reverify_mode`` (``"stateless"``), ``GET /dataset_size`` (``{"dataset_size": n}``),
  ``GET /dataset/{i}`` (row ``i``), ``GET /``, ``/health``, ``/healthz``, ``/livez``,
  ``/readyz`` (``{"status": "ok"}``).

This module imports FastAPI; import it only where a server is built.
Bodies are parsed by hand rather than by pydantic models: that is what makes extra and
missing optional fields harmless, and it keeps the hot path cheap. Malformed JSON, JSON
nested too deeply for the interpreter, a field of the wrong type, a number too large to
aggregate: each is a 4xx whose ``detail[0].msg`` names the field; no client input reaches
a 5xx. With ``token`` set, every route but the health routes needs
``Authorization: Bearer <token>``. Health responses carry ``X-Tunegym-Instance`` when
``instance_id`` is given, so a process manager can tell its own child from a stranger
that holds the port. ``secrets`` are replaced by ``***`` in every error text sent back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from tunegym.errors import UsageError
from tunegym.harness.asgi import BearerAuth, BodyDeadline, BodyLimit, RolloutPrefix
from tunegym.harness.base import GymHarness, load_dataset, verify_timeout
from tunegym.harness.metrics import aggregate_metrics, validate_verify_responses
from tunegym.harness.payload import PayloadError
from tunegym.harness.redaction import scrub
from tunegym.harness.sessions import (
    SeedRequest,
    Session,
    SessionConflict,
    SessionStore,
    cookie_name,
    parse_episode_id,
    parse_seed,
    session_context,
)
from tunegym.harness.verifying import verify_fields

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/", "/health", "/healthz", "/livez", "/readyz")
INSTANCE_HEADER = "X-Tunegym-Instance"
AGGREGATE_THREADS = 2  # concurrent /aggregate_metrics computations; more requests queue
_ROW_INDEX = re.compile(r"[0-9]{1,18}")


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as ``None`` (JSON has no NaN or infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _encode(content: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate (valid in a JSON string) is kept as ``\\udXXX``."""
    text = json.dumps(
        content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=default
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(content, allow_nan=False, separators=(",", ":"), default=default).encode(
            "ascii"
        )


def _dumps(content: Any) -> bytes:
    try:
        return _encode(content)
    except (TypeError, ValueError):  # NaN echoed from the request, or an odd harness value
        return _encode(_json_safe(content), default=str)


class _JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _dumps(content)


class HookError(Exception):
    """A harness session hook failed: the client may retry (HTTP 503)."""


def _error(status: int, loc: tuple[Any, ...], msg: str, kind: str) -> _JSON:
    return _JSON({"detail": [{"loc": ["body", *loc], "msg": msg, "type": kind}]}, status)


def _guarded(
    handler: Callable[[Request], Awaitable[Response]], secrets: Iterable[str]
) -> Callable[[Request], Awaitable[Response]]:
    """Turn the errors a client can cause into 4xx (and failed hooks into 503)."""
    known = tuple(secrets)

    async def route(request: Request) -> Response:
        try:
            return await handler(request)
        except PayloadError as exc:
            return _JSON({"detail": [exc.detail()]}, status_code=422)
        except RecursionError:
            return _error(422, (), "body: JSON nested too deeply", "json_too_deep")
        except SessionConflict as exc:
            return _error(409, ("resources_session_id",), str(exc), "session_conflict")
        except HookError as exc:
            return _JSON({"detail": scrub(str(exc), known)}, status_code=503)

    route.__name__ = handler.__name__
    return route


MAX_BODY_BYTES = 32 * 2**20
"""The largest request body a harness server reads by default (32 MiB: a rollout of a
million tokens is a few MB; parsed, a body takes about 25 times its size in memory)."""


def create_app(
    harness: GymHarness,
    token: str | None = None,
    instance_id: str | None = None,
    *,
    server_name: str | None = None,
    secrets: Iterable[str] = (),
    body_timeout: float = 60.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    sessions: SessionStore | None = None,
    verify_timeout_s: float | None = None,
) -> FastAPI:
    """Build the resource-server app for ``harness`` (its dataset is loaded here, once).

        ``server_name`` (default ``harness.name``) names the session cookie
        ``<HarnessClass>___<server_name>``. A request body over ``max_body_bytes`` is answered
        413 without being read. ``verify_timeout_s`` overrides the harness's own limit on one
    ``verify()`` call. Raises what :func:`~tunegym.harness.base.load_dataset` raises
        for a dataset that cannot be served, :class:`UsageError` for an unusable name.
    """
    dataset = load_dataset(harness)
    verify_limit = verify_timeout(harness, verify_timeout_s)
    known_secrets = tuple(secrets)
    store = sessions if sessions is not None else SessionStore()
    try:
        cookie = cookie_name(type(harness).__name__, server_name or harness.name)
    except ValueError as exc:
        raise UsageError(f"harness server name: {exc}") from None
    limiter: list[Any] = []  # one anyio limiter, made inside the server's event loop

    app = FastAPI(title=f"tunegym harness: {harness.name}", docs_url=None, redoc_url=None)
    health_headers = {INSTANCE_HEADER: instance_id} if instance_id else None

    def post(path: str) -> Callable[[Callable[[Request], Awaitable[Response]]], Any]:
        def register(handler: Callable[[Request], Awaitable[Response]]) -> Any:
            app.add_api_route(path, _guarded(handler, known_secrets), methods=["POST"])
            return handler

        return register

    @post("/verify")
    async def verify(request: Request) -> Response:
        raw = await request.body()
        body = _parse(raw)
        has_cookie = any(name == b"cookie" for name, _ in request.scope["headers"])
        session = store.by_cookie(request.cookies.get(cookie)) if has_cookie else None
        with session_context(session):
            # uvicorn turns Ctrl-C into a shutdown: a KeyboardInterrupt here is the harness's
            fields = await verify_fields(
                harness, body, known_secrets, mask_keyboard_interrupt=True, timeout=verify_limit
            )
        return Response(_echo(raw, body, fields), media_type="application/json")

    pending: dict[str, asyncio.Future[Session]] = {}  # typed seeds the harness is running

    @post("/seed_session")
    async def seed_session(request: Request) -> Response:
        seed = parse_seed(_parse(await request.body(), empty={}))
        if seed.typed and seed.session_id in pending:  # the same seed, still in flight
            await asyncio.shield(pending[seed.session_id])
        session = store.existing(seed)
        if session is None:
            session = await _open(seed)
        echoed = seed.typed or "resources_session_id" in seed.task_data
        reply = _JSON({"resources_session_id": session.id} if echoed else {})
        reply.set_cookie(cookie, session.cookie, httponly=True, samesite="lax")
        return reply

    async def _open(seed: SeedRequest) -> Session:
        for stale in store.expired(incoming=1):
            await _close(stale, expiring=True)
        session = store.new(seed)
        done: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        if seed.typed:
            pending[session.id] = done
        try:
            try:
                await harness.seed_session(session)
            except Exception as exc:
                raise HookError(
                    f"harness {harness.name!r} seed_session failed: {type(exc).__name__}: {exc}"
                ) from exc
            try:
                store.existing(seed)  # closed while the harness was seeding?
            except SessionConflict:
                await _close(session, expiring=True)
                raise
            store.add(session)
            return session
        finally:
            if pending.get(session.id) is done:
                del pending[session.id]
            done.set_result(session)

    async def _close(session: Session, expiring: bool = False) -> None:
        try:
            await harness.close_session(session)
        except Exception as exc:
            if not expiring:
                raise HookError(
                    f"harness {harness.name!r} close_session failed: {type(exc).__name__}: {exc}"
                ) from exc
            log.warning("harness %s close_session failed for an expired session", harness.name)
        store.remove(session.id)

    @post("/close_session")
    async def close_session(request: Request) -> Response:
        body = _parse(await request.body(), empty={})
        if not isinstance(body, dict):
            raise PayloadError((), "expected a JSON object")
        session_id = body.get("resources_session_id")
        if session_id is None:
            session = store.by_cookie(request.cookies.get(cookie))
            if session is not None:
                await _close(session)
            return _JSON({})
        if not isinstance(session_id, str) or not session_id:
            raise PayloadError(("resources_session_id",), "expected a non-empty string")
        if "episode_id" in body:
            parse_episode_id(body["episode_id"], ("episode_id",))
        session = store.by_id(session_id)
        if session is not None:
            await _close(session)
        else:
            store.remove(session_id)  # never seeded: a later seed must not open it
        return _JSON({"resources_session_id": session_id})

    @post("/aggregate_metrics")
    async def aggregate(request: Request) -> Response:
        import anyio.to_thread

        raw = await request.body()
        if not limiter:
            limiter.append(anyio.CapacityLimiter(AGGREGATE_THREADS))
        status, content = await anyio.to_thread.run_sync(_aggregate, raw, limiter=limiter[0])
        return Response(content, status_code=status, media_type="application/json")

    def _aggregate(raw: bytes) -> tuple[int, bytes]:
        try:
            responses = validate_verify_responses(_parse(raw))
            result = aggregate_metrics(responses, harness.compute_metrics, harness.key_metrics)
            return 200, _dumps(result)
        except PayloadError as exc:
            return 422, _dumps({"detail": [exc.detail()]})
        except RecursionError:
            return 422, bytes(_error(422, (), "body: JSON nested too deeply", "json_too_deep").body)

    async def health() -> _JSON:  # registered after the POST routes: /verify matches first
        return _JSON({"status": "ok"}, headers=health_headers)

    for path in HEALTH_PATHS:
        app.add_api_route(path, health, methods=["GET"], include_in_schema=path == "/health")

    @app.get("/reverify_mode")
    async def reverify_mode() -> _JSON:
        return _JSON("stateless")

    @app.get("/dataset_size")
    async def dataset_size() -> _JSON:
        return _JSON({"dataset_size": len(dataset)})

    @app.get("/dataset/{index}")
    async def dataset_row(index: str) -> _JSON:
        if not _ROW_INDEX.fullmatch(index) or int(index) >= len(dataset):
            rows = f"has rows 0..{len(dataset) - 1}" if dataset else "is empty"
            return _JSON({"detail": f"no row {index!r}: the dataset {rows}"}, 404)
        return _JSON(dataset[int(index)])

    app.add_middleware(BodyLimit, limit=max_body_bytes, option="--max-body-mb")
    app.add_middleware(BodyDeadline, timeout=body_timeout)
    if token:
        app.add_middleware(BearerAuth, token=token, open_paths=frozenset(HEALTH_PATHS))
    app.add_middleware(RolloutPrefix)
    return app


def _parse(raw: bytes, empty: Any = None) -> Any:
    if empty is not None and not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except RecursionError:
        raise PayloadError((), "JSON nested too deeply", kind="json_too_deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError((), f"malformed JSON: {exc}", kind="json_invalid") from None


def _echo(raw: bytes, body: dict[str, Any], fields: dict[str, Any]) -> bytes:
    """JSON of ``{**body, **fields}``, reusing the request bytes instead of re-encoding them.

    Splicing is exact when ``raw`` is a plain UTF-8 object without NaN/Infinity and every
    field the body already has carries the same value (``expected_answer`` usually
    does: it keeps its place, as in a dict update); otherwise everything is re-encoded.
    """
    stripped = raw.strip()
    extra = {}
    for key, value in fields.items():
        if key not in body:
            extra[key] = value
        elif type(body[key]) is not type(value) or body[key] != value:
            return _dumps({**body, **fields})
    if (
        stripped[:1] != b"{"
        or stripped[-1:] != b"}"
        or b"NaN" in stripped
        or b"Infinity" in stripped
    ):
        return _dumps({**body, **fields})
    if not extra:
        return stripped
    try:
        tail = _encode(extra)
    except (TypeError, ValueError):
        return _dumps({**body, **fields})
    separator = b"," if body else b""
    return stripped[:-1] + separator + tail[1:]
