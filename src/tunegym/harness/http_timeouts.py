"""A request-header deadline for uvicorn, against slowloris clients.

uvicorn times out idle keep-alive connections, but not a connection that was opened and
sends nothing, nor one that sends a request's headers a byte at a time: each such client
holds a socket and a protocol object for as long as it likes. :func:`with_header_timeout`
subclasses uvicorn's HTTP protocol (h11 or httptools, whichever uvicorn would use) so that
a connection must complete a request's headers within ``timeout`` seconds of opening, or of
the first byte after the previous response; otherwise it gets ``408`` and is closed.

It relies on two attributes both uvicorn protocols have (``transport``, and ``cycle``: the
current request-response cycle, replaced when a request's headers are complete, with a
``response_complete`` flag); :func:`with_header_timeout` checks that they exist. The
body deadline is the ASGI middleware :class:`tunegym.harness.asgi.BodyDeadline`.
"""

from __future__ import annotations

import asyncio
from typing import Any

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def default_protocol() -> type[asyncio.Protocol]:
    """The protocol class uvicorn's ``http="auto"`` picks (httptools if installed, else h11)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return AutoHTTPProtocol


def with_header_timeout(base: type[asyncio.Protocol], timeout: float) -> type[asyncio.Protocol]:
    """``base`` with a deadline on each request's headers (see the module docstring)."""
    if timeout <= 0:
        raise ValueError(f"header timeout must be positive, got {timeout}")
    for method in ("connection_made", "data_received", "connection_lost"):
        if not callable(getattr(base, method, None)):
            raise TypeError(f"{base.__name__} has no {method}(); not a uvicorn HTTP protocol")
    detail = b'{"detail":"request headers not received within %s s"}' % f"{timeout:g}".encode()
    response = _TIMEOUT_RESPONSE % (len(detail), detail)

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        _tg_timer: asyncio.TimerHandle | None = None
        _tg_cycle: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._tg_arm()

        def data_received(self, data: bytes) -> None:
            if self._tg_timer is None and self._tg_idle():
                self._tg_arm()  # the first byte of a new request
            super().data_received(data)
            if self._tg_timer is not None and getattr(self, "cycle", None) is not self._tg_cycle:
                self._tg_disarm()  # its headers are complete

        def connection_lost(self, exc: Exception | None) -> None:
            self._tg_disarm()
            super().connection_lost(exc)

        def _tg_idle(self) -> bool:
            cycle = getattr(self, "cycle", None)
            return cycle is None or bool(getattr(cycle, "response_complete", False))

        def _tg_arm(self) -> None:
            self._tg_cycle = getattr(self, "cycle", None)
            self._tg_timer = asyncio.get_running_loop().call_later(timeout, self._tg_expired)

        def _tg_disarm(self) -> None:
            if self._tg_timer is not None:
                self._tg_timer.cancel()
                self._tg_timer = None

        def _tg_expired(self) -> None:
            self._tg_timer = None
            transport = getattr(self, "transport", None)
            if getattr(self, "cycle", None) is not self._tg_cycle or transport is None:
                return
            if not transport.is_closing():
                transport.write(response)
                transport.close()

    HeaderTimeoutProtocol.__name__ = f"HeaderTimeout{base.__name__}"
    HeaderTimeoutProtocol.__qualname__ = HeaderTimeoutProtocol.__name__
    return HeaderTimeoutProtocol
