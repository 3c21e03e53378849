"""A RayRunner on a Ray cluster, hosted in its own driver process.

A process holds one Ray connection, and the test process already has a local Ray (the
runner and data-plane tests share it), so tests of the real :class:`RayRunner` on the
two-node cluster drive it through this process: :class:`RemoteRayRunner` has the
:class:`~tunegym.runners.base.Runner` interface and forwards ``run`` and ``cancel_all``
(pickled, length-prefixed frames over stdin/stdout). The driver runs each trial in its
own thread, as the parallel loop does. Nothing is stubbed: the process is a plain
RayRunner (built by the runner registry) as a client of the cluster.
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO


def _send(stream: BinaryIO, lock: threading.Lock, message: Any) -> None:
    data = pickle.dumps(message)
    with lock:
        stream.write(struct.pack("!I", len(data)) + data)
        stream.flush()


def _receive(stream: BinaryIO) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        raise EOFError
    (size,) = struct.unpack("!I", header)
    return pickle.loads(stream.read(size))


class RemoteRayRunner:
    """The client side: a Runner whose trials run through a RayRunner in a driver process."""

    def __init__(self, settings: Any, env: dict[str, str], log: Path) -> None:
        self._log = open(log, "wb")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **env},
        )
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue[Any]] = {}
        self._ids = itertools.count()
        self._ready: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        _send(self._proc.stdin, self._lock, ("init", settings))  # type: ignore[arg-type]
        kind, payload = self._ready.get(timeout=180)
        if kind != "ready":
            raise RuntimeError(f"the Ray driver did not start: {payload}")

    def _read(self) -> None:
        try:
            while True:
                kind, ident, payload = _receive(self._proc.stdout)  # type: ignore[arg-type]
                if ident is None:
                    self._ready.put((kind, payload))
                else:
                    self._replies[ident].put((kind, payload))
        except (EOFError, OSError):
            failure = ("error", "the Ray driver process exited")
            self._ready.put(failure)
            for box in list(self._replies.values()):
                box.put(failure)

    def run(self, spec: Any) -> Any:
        ident = next(self._ids)
        box: queue.Queue[Any] = queue.Queue()
        self._replies[ident] = box
        _send(self._proc.stdin, self._lock, ("run", ident, spec))  # type: ignore[arg-type]
        kind, payload = box.get()
        del self._replies[ident]
        if kind == "error":
            raise RuntimeError(f"RayRunner.run raised: {payload}")
        return payload

    def cancel_all(self) -> None:
        _send(self._proc.stdin, self._lock, ("cancel_all",))  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            _send(self._proc.stdin, self._lock, ("exit",))  # type: ignore[arg-type]
            self._proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def serve() -> None:
    from tunegym.runners.base import RunnerContext
    from tunegym.runners.registry import load_runner

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    lock = threading.Lock()
    kind, settings = _receive(stdin)
    assert kind == "init"
    try:
        runner = load_runner("ray").from_settings(settings, RunnerContext(job_name="contract"))
    except BaseException as exc:
        _send(stdout, lock, ("error", None, f"{type(exc).__name__}: {exc}"))
        return
    _send(stdout, lock, ("ready", None, None))

    def run(ident: int, spec: Any) -> None:
        try:
            _send(stdout, lock, ("result", ident, runner.run(spec)))
        except BaseException as exc:
            _send(stdout, lock, ("error", ident, f"{type(exc).__name__}: {exc}"))

    while True:
        try:
            message = _receive(stdin)
        except EOFError:
            return
        if message[0] == "run":
            threading.Thread(target=run, args=message[1:], daemon=True).start()
        elif message[0] == "cancel_all":
            runner.cancel_all()
        elif message[0] == "exit":
            return


if __name__ == "__main__":
    serve()
