"""``RayRunner``: each trial is a Ray task, with per-trial resources (extra ``ray``).

The task runs the trial with :class:`~tunegym.runners.local.LocalRunner` on whichever
node Ray picks. With ``shared_fs = true`` the run folder is visible on every node and the
trial writes in place. Otherwise the trial runs in a scratch folder on the node: the
trial folder's files go there first, and everything the trial wrote (stdout, stderr,
result files the metrics read) comes back through the object store into the trial folder
on the driver. Paths to the trial folder in ``argv`` and ``TUNEGYM_TRIAL_DIR`` are
rewritten to the scratch folder.

Failure contract, on top of the :class:`~tunegym.runners.base.Runner` one:

- A trial whose worker or node is lost (``NodeDiedError``, ``WorkerCrashedError``, an
  object lost with its node, ...) is a ``failed`` trial whose ``error`` names what Ray
  reported; it never aborts the run. ``ray.max_retries`` lets Ray run it again first.
- :meth:`RayRunner.cancel_all` (Ctrl-C) stops running trials at once: the task waits for
  its trial in short slices, so the ``KeyboardInterrupt`` that ``ray.cancel`` raises in it
  arrives, and it kills the trial's process group before it ends. A task that does not
  end anyway is force-cancelled a few seconds later.
- A trial whose ``spec.stop`` is set (pruned, or the time budget spent) is cancelled the
  same way, alone; it needs ``shared_fs = true`` to be pruned, since only then is its
  output readable while it runs. The task catches the cancellation, stops the trial and
  returns what the trial left (its own run time, from the task's start of the command
  rather than the driver's submission, and its outputs); Ray raises
  ``TaskCancelledError`` instead only for a task cancelled before it ran. A stop that
  comes after the trial's command ended on its own (the task still sweeping what it
  left behind) leaves the trial's result: the task says so, and the driver finds the
  stop came too late.
- A cluster tunegym cannot reach is a one-line :class:`~tunegym.errors.TunegymError`
  (nothing listening, or refused, typically for token authentication: it says to set
  ``RAY_AUTH_MODE=token``), not an internal error.
- Scratch folders are removed when the trial ends; those of a worker that was killed
  are removed by the next trial on that machine.

``ray`` is imported only when a RayRunner is built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel

from tunegym.errors import TunegymError, TunegymWarning, UsageError
from tunegym.ray_local import signal_handlers_kept, start_local_ray
from tunegym.runners.base import (
    Runner,
    RunnerContext,
    TrialResult,
    TrialSpec,
    TrialStatus,
)
from tunegym.runners.local import DryRunRunner, LocalRunner
from tunegym.spec.models import RaySpec

# Files larger than this are not shipped back from a node (their name is logged instead).
MAX_RETURNED_FILE_BYTES = 256 * 1024 * 1024

SCRATCH_PREFIX = "tunegym-trial-"
"""Scratch folders are ``<tmp>/tunegym-trial-<host>-<worker pid>-<random>``."""

FORCE_CANCEL_AFTER_S = 5.0
"""After ``cancel_all``, tasks still running this much later are force-cancelled."""

_SLICE_S = 0.1
"""How often the task's main thread checks for Ray's cancellation while a trial runs."""

_REACHABLE_TIMEOUT_S = 5.0
_GRPC_READY_TIMEOUT_S = 10.0
"""How long a listener at ``ray.address`` has to complete a gRPC handshake."""


def _collect(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.stat().st_size <= MAX_RETURNED_FILE_BYTES:
            files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def _scratch_prefix() -> str:
    return f"{SCRATCH_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def remove_stale_scratch(tmp: Path | None = None) -> list[Path]:
    """Remove this host's scratch folders whose worker process is gone; return them."""
    tmp = Path(tmp or tempfile.gettempdir())
    mine = f"{SCRATCH_PREFIX}{socket.gethostname()}-"
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(tmp):
            if not entry.name.startswith(mine) or not entry.is_dir(follow_symlinks=False):
                continue
            pid_text = entry.name[len(mine) :].split("-", 1)[0]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TaskOutcome(NamedTuple):
    """What a trial's Ray task returns to the driver."""

    result: TrialResult
    outputs: dict[str, bytes]
    """The files the trial wrote in its scratch folder (none with ``shared_fs``)."""
    cancelled: bool
    """Ray's cancellation stopped the trial; false when the trial's command had ended on
    its own first (a cancellation that came too late)."""


def run_interruptibly(runner: LocalRunner, spec: TrialSpec) -> tuple[TrialResult, bool]:
    """``runner.run(spec)`` in a helper thread, this thread waiting in short slices; the
    trial's result, and whether a cancellation of the task stopped it.

    Ray cancels a running task by raising ``KeyboardInterrupt`` in its main thread, which
    Python delivers only between bytecodes: a thread blocked in a system call (the
    runner's wait for the trial) would not see it until the trial ends. Here the main
    thread wakes every :data:`_SLICE_S`; on an interrupt it stops the trial as a local
    stop would (:func:`_end_on_cancel`) and returns its result, as Ray allows a task that
    catches the interrupt to do: the trial's own run time and outputs reach the driver,
    not just the fact that it was cancelled. It re-raises only when the trial could not
    be ended. It waits on an event, not on ``Thread.join``: an interrupted ``join`` marks
    a live thread as stopped (Python 3.11).
    """
    box: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            box["result"] = runner.run(spec)
        except BaseException as exc:
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="tunegym-ray-trial", daemon=True).start()
    cancelled = False
    try:
        while not finished.wait(_SLICE_S):
            pass
    except BaseException:
        if not _end_on_cancel(runner, spec, finished) or "result" not in box:
            raise
        cancelled = spec.stop is None or spec.stop.landed  # landed: not too late
    if "error" in box:
        raise box["error"]
    return box["result"], cancelled


def _end_on_cancel(runner: LocalRunner, spec: TrialSpec, finished: threading.Event) -> bool:
    """The task was cancelled: stop its trial through its (task-side) stop signal, which
    finds whether the command had already ended, or without one cancel the runner; wait
    for the trial to be over, through further interrupts. Whether it is over."""
    stop = spec.stop
    deadline = time.monotonic() + spec.kill_grace_s + 10.0  # a sweep, then a SIGKILL
    while not finished.is_set() and time.monotonic() < deadline:
        try:
            if stop is not None:  # acted on at once, or when the trial starts; a repeat is a no-op
                stop.stop(TrialStatus.FAILED, "the Ray task was cancelled")
            else:
                runner.cancel_all()  # the trial may not be registered yet: repeat
            finished.wait(0.05)
        except KeyboardInterrupt:  # Ray cancels again (a Ctrl-C beside a stop)
            continue
    return finished.is_set()


def run_on_node(spec: TrialSpec, inputs: dict[str, bytes] | None) -> TaskOutcome:
    """Body of the Ray task: run in place (``inputs is None``) or in a scratch folder."""
    runner = LocalRunner()
    if inputs is None:
        result, cancelled = run_interruptibly(runner, spec)
        return TaskOutcome(result, {}, cancelled)
    remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=_scratch_prefix()))
    try:
        for name, data in inputs.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_bytes(data)
        home = str(spec.cwd)
        moved = replace(
            spec,
            cwd=scratch,
            argv=tuple(arg.replace(home, str(scratch)) for arg in spec.argv),
            env={k: v.replace(home, str(scratch)) for k, v in spec.env.items()},
        )
        result, cancelled = run_interruptibly(runner, moved)
        return TaskOutcome(result, _collect(scratch), cancelled)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RayRunner:
    """Run trials as Ray tasks; blocking ``run`` (the parallel loop calls it from threads)."""

    Settings: ClassVar[type[BaseModel] | None] = RaySpec

    @classmethod
    def from_settings(cls, settings: RaySpec, context: RunnerContext) -> Runner:
        """A runner for one job; a dry run starts no Ray and writes ``command.txt``."""
        if context.dry_run:
            return DryRunRunner()
        return cls(settings, local_cpus=int(context.parallel * max(settings.num_cpus, 1)))

    @classmethod
    def dispatches_whole_grid(cls, settings: Any) -> bool:
        return False

    @classmethod
    def settings_problems(cls, workload: Any) -> list[tuple[tuple[str | int, ...], str]]:
        """Nothing beyond what the settings model checks."""
        return []

    def __init__(self, settings: RaySpec | None = None, local_cpus: int | None = None) -> None:
        import ray

        self.ray = ray
        self.settings = settings or RaySpec()
        if not ray.is_initialized():
            connect(self.settings.address, local_cpus)
        else:
            check_connected_to(self.settings.address)
        options: dict[str, Any] = {
            "num_cpus": self.settings.num_cpus,
            "num_gpus": self.settings.num_gpus,
            "max_retries": self.settings.max_retries,
            "retry_exceptions": False,
        }
        if self.settings.resources:
            options["resources"] = dict(self.settings.resources)
        missing = _what_no_node_has(self.settings, _node_resources(ray))
        if missing is not None and self.settings.address == "local":  # it cannot grow
            raise TunegymError(missing)
        if missing is not None:  # an autoscaler may add a node that has it
            warnings.warn(
                TunegymWarning(f"{missing}; trials wait until a node that has it joins"),
                stacklevel=2,
            )
        self._task = ray.remote(run_on_node).options(**options)
        self._active: set[Any] = set()
        self._cancelled: set[Any] = set()
        self._lock = threading.Lock()

    def run(self, spec: TrialSpec) -> TrialResult:
        started_at, t0 = time.time(), time.monotonic()
        inputs = None if self.settings.shared_fs else _collect(spec.cwd)
        ref = self._task.remote(spec, inputs)
        with self._lock:
            self._active.add(ref)
        stop_wait_s = FORCE_CANCEL_AFTER_S + spec.kill_grace_s  # room for the task's sweep
        forget = spec.stop.on_stop(lambda: self._stop_one(ref, stop_wait_s)) if spec.stop else None
        try:
            result, outputs, cancelled = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:  # cancelled before it ran
            return _lost(spec, started_at, t0, "cancelled")
        except self.ray.exceptions.RayTaskError:
            raise  # the task's own code raised: a bug, not a trial failure
        except self.ray.exceptions.RayError as exc:
            with self._lock:
                cancelled = ref in self._cancelled
            if cancelled:  # force-cancelled: Ray reports the worker it killed
                return _lost(spec, started_at, t0, "cancelled")
            return _lost(spec, started_at, t0, f"Ray lost the trial: {_one_line(exc)}")
        except BaseException:
            self._stop([ref], wait_s=FORCE_CANCEL_AFTER_S)  # Ctrl-C in this thread
            raise
        finally:
            if forget is not None:
                forget()
            with self._lock:
                self._active.discard(ref)
                self._cancelled.discard(ref)
        for name, data in outputs.items():
            target = spec.cwd / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        result = replace(
            result,
            stdout_path=spec.cwd / result.stdout_path.name,
            stderr_path=spec.cwd / result.stderr_path.name,
        )
        if cancelled:  # what the trial's command said on being stopped is not its error
            return replace(result, status=TrialStatus.FAILED, error="cancelled")
        if spec.stop is not None and spec.stop.is_set:
            spec.stop.came_too_late()  # the trial had ended on its own before the stop
        return result

    def cancel_all(self) -> None:
        """Cancel every running trial's task; each :meth:`run` then returns ``failed``."""
        with self._lock:
            refs = list(self._active)
            self._cancelled.update(refs)
        if refs:
            threading.Thread(target=self._stop, args=(refs,), daemon=True).start()

    def _stop_one(self, ref: Any, wait_s: float) -> None:
        """The env asked to stop this trial (``spec.stop``): cancel its task, as
        :meth:`cancel_all` does for all (the task stops the trial's process group, or
        returns the trial's result if its command had ended); force-cancel it if it still
        runs ``wait_s`` later."""
        with self._lock:
            if ref not in self._active:
                return
            self._cancelled.add(ref)
        threading.Thread(target=self._stop, args=([ref], wait_s), daemon=True).start()

    def _stop(self, refs: list[Any], wait_s: float = FORCE_CANCEL_AFTER_S) -> None:
        """Cancel ``refs`` gracefully; force-cancel those still running ``wait_s`` later."""
        for ref in refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        with contextlib.suppress(Exception):
            _, pending = self.ray.wait(refs, num_returns=len(refs), timeout=wait_s)
            for ref in pending:
                self.ray.cancel(ref, force=True)


def _lost(spec: TrialSpec, started_at: float, t0: float, error: str) -> TrialResult:
    for name in ("stdout.txt", "stderr.txt"):
        (spec.cwd / name).touch()
    return TrialResult(
        TrialStatus.FAILED,
        None,
        time.monotonic() - t0,
        started_at,
        spec.cwd / "stdout.txt",
        spec.cwd / "stderr.txt",
        error,
    )


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- connecting ---------------------------------------------------------------------------
def _node_resources(ray: Any) -> list[dict[str, float]]:
    """The resources of each live node of the cluster Ray is connected to."""
    return [dict(node.get("Resources") or {}) for node in ray.nodes() if node.get("Alive")]


def _what_no_node_has(settings: RaySpec, nodes: list[dict[str, float]]) -> str | None:
    """What a trial asks for that no live node offers (``num_gpus = 1`` on a cluster with
    no GPU), naming the setting, or ``None``. Such a task waits for ever: the run hung
    without a word, ``timeout_s`` and all."""
    wanted = {"CPU": settings.num_cpus, "GPU": settings.num_gpus, **settings.resources}
    wanted = {name: amount for name, amount in wanted.items() if amount > 0}
    if not nodes or any(all(node.get(k, 0) >= v for k, v in wanted.items()) for node in nodes):
        return None
    field = {"CPU": "ray.num_cpus", "GPU": "ray.num_gpus"}
    short = [
        f"{field.get(k, f'ray.resources.{k}')} = {v:g}"
        for k, v in wanted.items()
        if not any(node.get(k, 0) >= v for node in nodes)
    ] or [", ".join(f"{k} {v:g}" for k, v in wanted.items()) + " together"]
    offered = "; ".join(
        ", ".join(f"{k} {v:g}" for k, v in sorted(node.items()) if not k.startswith("node:"))
        for node in nodes
    )
    return (
        f"no node of the Ray cluster has what a trial asks for ({'; '.join(short)}); "
        f"its nodes offer: {offered}"
    )


def connect(address: str, local_cpus: int | None = None) -> None:
    """``ray.init`` for ``address``; a cluster that cannot be reached is a TunegymError.

    ``local`` starts a new instance on 127.0.0.1 (:func:`~tunegym.ray_local.start_local_ray`),
    even when a cluster was started on this machine (``auto`` is how to use that one)."""
    import ray

    if address == "local":
        cpus = max(local_cpus or 1, os.cpu_count() or 1)
        start_local_ray(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        return
    _check_reachable(address)
    try:
        with signal_handlers_kept():
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:
        raise TunegymError(_connection_advice(address, exc)) from None


def check_connected_to(address: str) -> None:
    """Ray is already up in this process (an earlier job or ``tunegym.tune`` call, or the
    user's own ``ray.init``): ``local`` and ``auto`` take that connection, as Ray Tune
    does; a named cluster it is not connected to is a :class:`UsageError` (else its
    trials would quietly run on the other one)."""
    import ray

    target = _host_port(address)
    if target is None:
        return
    if address.startswith("ray://"):
        current = "a Ray client" if ray.util.client.ray.is_connected() else None
        if current is not None:
            return  # a client connection does not say its cluster: it is taken as the one asked
    else:
        current = _gcs_address(ray)
        if current is not None and _same_endpoint(_host_port(current), target):
            return
    raise UsageError(
        f"ray.address {address!r}: Ray is already connected in this process to "
        f"{current or 'another cluster'}; call ray.shutdown() first to connect to {address}, "
        "or set address = 'auto' to use the cluster it is connected to"
    )


def _gcs_address(ray: Any) -> str | None:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # a client-mode or torn-down context has none
        return None


def _same_endpoint(a: tuple[str, int] | None, b: tuple[str, int]) -> bool:
    """Whether two ``(host, port)`` pairs name one endpoint (``localhost`` is 127.0.0.1)."""
    if a is None or a[1] != b[1]:
        return False
    try:
        return socket.gethostbyname(a[0]) == socket.gethostbyname(b[0])
    except OSError:
        return a[0] == b[0]


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address, else ``None``."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def _check_reachable(address: str) -> None:
    target = _host_port(address)
    if target is None:
        return  # "auto" and friends: Ray finds the cluster itself
    try:
        with socket.create_connection(target, timeout=_REACHABLE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise TunegymError(
            f"cannot connect to the Ray cluster at {address}: nothing answers there "
            f"({exc.strerror or type(exc).__name__}); start it with `ray start --head`, or "
            "fix ray.address / --ray-address (the head's GCS port, 6379 by default)"
        ) from None
    _check_speaks_grpc(address, target)


def _check_speaks_grpc(address: str, target: tuple[str, int]) -> None:
    """Something answers at ``target``: refuse it unless it speaks gRPC, as a GCS and a
    Ray client server do. ``ray.init`` on a port where something else listens (a web
    server, a database) retries for many minutes without a word to the user."""
    if os.environ.get("RAY_USE_TLS", "").lower() in ("1", "true"):
        return  # an insecure channel cannot tell a TLS cluster from anything else
    try:
        import grpc
    except ImportError:
        return
    host, port = target
    channel = grpc.insecure_channel(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=_GRPC_READY_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise TunegymError(
            f"cannot connect to the Ray cluster at {address}: something answers there, but "
            f"not as Ray (no gRPC handshake within {_GRPC_READY_TIMEOUT_S:g} s); fix "
            "ray.address / --ray-address: the head's GCS port (6379 by default), or with "
            "ray:// the Ray client server's (10001 by default)"
        ) from None
    finally:
        channel.close()


def token_files() -> list[Path]:
    """Where Ray looks for an authentication token on this machine, those that exist."""
    paths = [Path(p) for p in [os.environ.get("RAY_AUTH_TOKEN_PATH")] if p]
    paths.append(Path.home() / ".ray" / "auth_token")
    return [p for p in paths if p.is_file()]


def _connection_advice(address: str, exc: BaseException) -> str:
    why = f"cannot connect to the Ray cluster at {address} ({_one_line(exc, 160)})"
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        found = token_files()
        where = f" (a token is in {found[0]})" if found else ""
        return (
            f"{why}; if the cluster uses token authentication (Ray turns it on when "
            f"~/.ray/auth_token exists), set RAY_AUTH_MODE=token{where}"
        )
    return (
        f"{why}; RAY_AUTH_MODE=token is set: check that the token (RAY_AUTH_TOKEN, "
        "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) is the cluster's"
    )
