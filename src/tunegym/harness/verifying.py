"""One verify call, shared by the HTTP server, ``collect`` and :class:`HarnessGymServer`.

The contract: the request is echoed back with ``reward``, ``expected_answer``,
``extracted_answer``, ``mask_sample``, ``failure_kind`` and ``failure_reason`` set. A harness
that raises (or returns something that is not a :class:`VerifyResult`) yields
``reward: 0.0`` with ``mask_sample: true`` and ``failure_kind: "verifier_error"``: the
sample is not a measurement of the policy, and the caller still gets a 200. The error text
in ``failure_reason`` (and in the log) has the server's known secrets replaced by ``***``.
A harness that raises :data:`~tunegym.harness.base.RequestError` rejects the request
instead: the exception propagates and the server answers 422. A call that takes longer
than the harness's ``verify_timeout_s`` (or the caller's override) is cancelled and masked
the same way, its ``failure_reason`` saying how long it was given.

"Raises" includes ``SystemExit`` and a ``CancelledError`` the harness raises itself (an
``asyncio.timeout`` it did not catch, a cancelled inner task). A cancellation of the
caller's task (the server stopping, ``collect`` interrupted) is not masked: it propagates,
as it must. Nor, by default, is ``KeyboardInterrupt``, which in ``collect`` or an
environment can be the user's Ctrl-C; the server masks it too, because uvicorn turns
Ctrl-C into a shutdown and never into a ``KeyboardInterrupt`` inside a request.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from tunegym.harness.base import AS_GIVEN, GymHarness, VerifyResult, verify_timeout
from tunegym.harness.payload import PayloadError, VerifyInput, parse_verify_body
from tunegym.harness.redaction import scrub

log = logging.getLogger(__name__)

VERIFIER_ERROR = "verifier_error"  # NeMo Gym's shared failure_kind vocabulary


class VerifyTimeout(Exception):
    """``verify()`` ran past its limit (and was cancelled)."""


async def verify_input(
    harness: GymHarness,
    data: VerifyInput,
    secrets: Iterable[str] = (),
    *,
    mask_keyboard_interrupt: bool = False,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``harness.verify`` and return the result fields (never raises for harness bugs).

    ``mask_keyboard_interrupt``: the caller's Ctrl-C never arrives as a
    ``KeyboardInterrupt`` here (a server whose SIGINT handler stops it), so one is a
    harness bug like any other. ``timeout`` overrides the harness's ``verify_timeout_s``.
    """
    limit = verify_timeout(harness, timeout)
    try:
        result = await _verify_within(harness, data, limit)
        if not isinstance(result, VerifyResult):
            raise TypeError(f"verify() returned {type(result).__name__}, not VerifyResult")
        details = _json_safe(result.details)
    except PayloadError:
        raise
    except (Exception, SystemExit, KeyboardInterrupt, asyncio.CancelledError) as exc:
        # a harness bug is data about this sample, not a server error
        if _stops_the_caller(exc, mask_keyboard_interrupt):
            raise
        reason = scrub(f"{type(exc).__name__}: {_text(exc)}", secrets)
        log.warning("harness %s verify failed: %s", harness.name, reason)
        return {
            "reward": 0.0,
            "expected_answer": data.expected_answer,
            "extracted_answer": None,
            "mask_sample": True,
            "failure_kind": VERIFIER_ERROR,
            "failure_reason": reason,
        }
    expected = (
        data.expected_answer if result.expected_answer is AS_GIVEN else result.expected_answer
    )
    fields: dict[str, Any] = {
        "reward": result.reward,
        "expected_answer": expected,
        "extracted_answer": result.extracted_answer,
        "mask_sample": False,
        "failure_kind": None,
        "failure_reason": None,
    }
    if details:
        fields["verify_details"] = details
    return fields


async def verify_fields(
    harness: GymHarness,
    body: Any,
    secrets: Iterable[str] = (),
    *,
    mask_keyboard_interrupt: bool = False,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Validate ``body`` (raises :class:`PayloadError`) and return the result fields only."""
    return await verify_input(
        harness,
        parse_verify_body(body),
        secrets,
        mask_keyboard_interrupt=mask_keyboard_interrupt,
        timeout=timeout,
    )


async def verify_body(
    harness: GymHarness, body: Any, secrets: Iterable[str] = (), *, timeout: float | None = None
) -> dict[str, Any]:
    """Validate ``body`` (raises :class:`PayloadError`) and return it echoed with the result."""
    return {**body, **await verify_fields(harness, body, secrets, timeout=timeout)}


async def _verify_within(harness: GymHarness, data: VerifyInput, limit: float | None) -> Any:
    """``harness.verify(...)``; :class:`VerifyTimeout` when it runs past ``limit`` seconds.

    Only this limit's expiry is a :class:`VerifyTimeout`: a ``TimeoutError`` the harness
    raises itself stays what it is.
    """
    call = harness.verify(data.response_text, data.expected_answer, **data.row_fields)
    if limit is None:
        return await call
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            return await call
    except TimeoutError:
        if scope.expired():
            raise VerifyTimeout(f"verify() did not finish within {limit:g} s") from None
        raise


def _stops_the_caller(exc: BaseException, mask_keyboard_interrupt: bool) -> bool:
    """Whether ``exc`` is the caller being stopped rather than the harness failing."""
    if isinstance(exc, asyncio.CancelledError):  # this task cancelled, or the harness's own?
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0
    return isinstance(exc, KeyboardInterrupt) and not mask_keyboard_interrupt


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ itself fails
        return f"<{type(exc).__name__} with an unprintable message>"


def _json_safe(details: Any) -> dict[str, Any]:
    if not details:
        return {}
    try:
        return json.loads(json.dumps(details, allow_nan=False, default=str))
    except (TypeError, ValueError):
        return {"unserialisable_details": repr(details)[:500]}
