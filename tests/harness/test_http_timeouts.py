"""Slowloris: request headers and bodies that never finish are timed out (h11 and httptools)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from harness_testkit import EchoHarness

from tunegym.harness.http_timeouts import default_protocol, with_header_timeout

REQUEST = b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.fixture(params=["h11", "httptools"])
def base_protocol(request):
    if request.param == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return HttpToolsProtocol


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One complete HTTP response (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ).split(b":")[1]
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def drip(sock: socket.socket, data: bytes, pause: float) -> int:
    """Send ``data`` a byte at a time; the number of bytes sent before the server hung up."""
    for sent, byte in enumerate(data):
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return sent
        time.sleep(pause)
    return len(data)


def test_headers_sent_a_byte_at_a_time_get_408_and_a_close(live_server, base_protocol):
    url = live_server(EchoHarness(), http=with_header_timeout(base_protocol, 0.5))
    with connect(url) as sock:
        sent = drip(sock, REQUEST * 3, pause=0.05)  # ~10 s if the server kept listening
        assert sent < len(REQUEST * 3)
        sock.settimeout(5)
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b"request headers not received within 0.5 s" in reply


def test_a_connection_that_sends_nothing_is_closed(live_server, base_protocol):
    url = live_server(EchoHarness(), http=with_header_timeout(base_protocol, 0.3))
    with connect(url) as sock:
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_complete_requests_on_a_kept_alive_connection_are_untouched(live_server, base_protocol):
    url = live_server(EchoHarness(), http=with_header_timeout(base_protocol, 0.5))
    body = b'{"response": "alpha", "expected": "alpha"}'
    request = REQUEST + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    with connect(url) as sock:
        for _ in range(3):
            sock.sendall(request)
            reply = read_response(sock)
            assert reply.startswith(b"HTTP/1.1 200 ") and b'"reward":1.0' in reply
            time.sleep(0.4)  # idle between requests: the keep-alive timeout's business
        sent = drip(sock, REQUEST * 3, pause=0.05)  # a slow next request is timed out
        assert sent < len(REQUEST * 3)


def test_a_body_that_never_finishes_gets_408(live_server):
    url = live_server(EchoHarness(), body_timeout=0.5)
    with connect(url) as sock:
        sock.sendall(REQUEST + b'Content-Length: 100\r\n\r\n{"response":')
        reply = read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b'"msg":"body: not received within 0.5 s"' in reply


def test_the_serve_command_applies_both_timeouts(tmp_path):
    argv = [sys.executable, "-m", "tunegym.cli.harness", "serve", "arithmetic"]
    argv += ["--header-timeout", "0.5", "--body-timeout", "0.5", "--log-level", "warning"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        url = proc.stdout.readline().strip()
        with connect(url) as sock:
            assert drip(sock, REQUEST * 3, pause=0.05) < len(REQUEST * 3)
        with connect(url) as sock:
            sock.sendall(REQUEST + b"Content-Length: 100\r\n\r\n{")
            assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        with_header_timeout(default_protocol(), 0)
    with pytest.raises(TypeError, match="not a uvicorn HTTP protocol"):
        with_header_timeout(object, 1.0)  # type: ignore[arg-type]
