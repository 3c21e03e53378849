"""The runner contract, run over every registered runner against the real thing.

Every runner of the registry (``tunegym.runners`` entry points, :func:`runner_names`)
gets every test here: exit codes (and where stdout and stderr land), a timeout that takes
down the trial's whole process group (a grandchild that ignores SIGTERM included), a
command that does not exist, and ``cancel_all`` from another thread. Each is built the way
a job builds it (``from_settings`` with a :class:`RunnerContext`) and runs for real: a
subprocess here (local), a task on the two-node Ray cluster (driven from its own process,
see ``tests/clusters/ray_driver.py``), a job on the single-node Slurm with and without
accounting. All of them run on this machine, so the tests can check that no process of a
trial is left.

A new runner gets the suite by registering: it is built from its default settings, or,
when it needs an engine to talk to, from an entry in :data:`ENGINES` (a variant name and
a function ``request -> Runner`` that brings the engine up through a fixture).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray_cluster
import ray_driver
from cluster_procs import alive, wait_until

from tunegym.runners.base import Runner, RunnerContext, TrialSpec
from tunegym.runners.registry import load_runner, runner_names
from tunegym.spec.models import RaySpec, SlurmSpec

CONTEXT = RunnerContext(job_name="contract")


def _from_settings(name: str, settings: Any = None) -> Runner:
    cls = load_runner(name)
    if settings is None and cls.Settings is not None:
        settings = cls.Settings()
    return cls.from_settings(settings, CONTEXT)


def _ray_two_nodes(request: pytest.FixtureRequest) -> Runner:
    runner: ray_driver.RemoteRayRunner = request.getfixturevalue("ray_cluster_runner")
    return runner  # type: ignore[return-value]


def _slurm(fixture: str) -> Callable[[pytest.FixtureRequest], Runner]:
    def make(request: pytest.FixtureRequest) -> Runner:
        request.getfixturevalue(fixture)  # the cluster, with SLURM_CONF set for the test
        return _from_settings("slurm", SlurmSpec(poll_interval_s=0.2))

    return make


ENGINES: dict[str, dict[str, Callable[[pytest.FixtureRequest], Runner]]] = {
    "ray": {"two-nodes": _ray_two_nodes},
    "slurm": {"plain": _slurm("slurm_plain"), "accounting": _slurm("slurm_acct")},
}
"""Runners that need an engine: variant -> how to build the runner against it."""


def _variants() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for name in runner_names():
        found += [(name, variant) for variant in ENGINES.get(name, {None: None})]
    return found


VARIANTS = _variants()


@pytest.fixture(scope="module")
def ray_cluster_runner(
    ray_cluster_session: ray_cluster.RayCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ray_driver.RemoteRayRunner]:
    cluster = ray_cluster_session
    if not ray_cluster.owned(cluster.pids["worker"], str(cluster.root)):
        ray_cluster.start_node(cluster, "worker")
        ray_cluster.wait_for_nodes(cluster, 2)
    log = tmp_path_factory.mktemp("ray-driver") / "driver.log"
    runner = ray_driver.RemoteRayRunner(RaySpec(address=cluster.address), cluster.env(), log)
    yield runner
    runner.close()


@pytest.fixture(params=VARIANTS, ids=[name if v is None else f"{name}-{v}" for name, v in VARIANTS])
def runner(request: pytest.FixtureRequest) -> Runner:
    name, variant = request.param
    if variant is None:
        return _from_settings(name)
    return ENGINES[name][variant](request)


def test_the_builtin_runners_are_all_in_the_suite() -> None:
    assert {"local", "ray", "slurm"} <= {name for name, _ in VARIANTS}


def _trial(tmp_path: Path, code: str, **kwargs: Any) -> TrialSpec:
    cwd = tmp_path / "trial"
    cwd.mkdir()
    return TrialSpec((sys.executable, "-c", code), cwd, **kwargs)


# A trial that starts a grandchild ignoring SIGTERM, writes both pids to `pids` (an
# absolute path outside the trial folder, seen by every node of these clusters) and hangs.
HANG = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
open(sys.argv[1], "w").write(f"{os.getpid()} {child.pid}")
time.sleep(300)
"""


def _hanging(tmp_path: Path, **kwargs: Any) -> tuple[TrialSpec, Path]:
    pids = tmp_path / "pids"
    cwd = tmp_path / "trial"
    cwd.mkdir()
    return TrialSpec((sys.executable, "-c", HANG, str(pids)), cwd, **kwargs), pids


def _read_pids(path: Path) -> list[int]:
    wait_until(lambda: path.exists() and len(path.read_text().split()) == 2, 120, f"{path}")
    return [int(p) for p in path.read_text().split()]


def test_exit_zero_is_ok_and_output_lands_in_the_trial_folder(
    runner: Runner, tmp_path: Path
) -> None:
    spec = _trial(tmp_path, "import sys; print('to out'); print('to err', file=sys.stderr)")
    result = runner.run(spec)
    assert (result.status, result.returncode, result.error) == ("ok", 0, None)
    assert result.stdout_path == spec.cwd / "stdout.txt"
    assert result.stdout_path.read_text() == "to out\n"
    assert result.stderr_path.read_text() == "to err\n"
    assert result.duration_s >= 0 and result.started_at > 0


def test_a_non_zero_exit_is_failed_with_its_code(runner: Runner, tmp_path: Path) -> None:
    result = runner.run(_trial(tmp_path, "import sys; sys.exit(3)"))
    assert (result.status, result.returncode) == ("failed", 3)
    assert "exit code 3" in (result.error or "")


def test_a_timeout_kills_the_whole_group(runner: Runner, tmp_path: Path) -> None:
    spec, pids_file = _hanging(tmp_path, timeout_s=2.0, kill_grace_s=1.0)
    result = runner.run(spec)
    assert result.status == "timeout" and result.returncode != 0
    assert "timed out" in (result.error or "")
    pids = _read_pids(pids_file)
    assert wait_until(lambda: not any(alive(p) for p in pids), 10, None), "a trial process lives"
    assert result.duration_s < 60


def test_a_missing_command_is_failed_without_a_code(runner: Runner, tmp_path: Path) -> None:
    cwd = tmp_path / "trial"
    cwd.mkdir()
    result = runner.run(TrialSpec(("tunegym-no-such-command-xyz", "--flag"), cwd))
    assert (result.status, result.returncode) == ("failed", None)
    assert result.error == "command not found: tunegym-no-such-command-xyz"
    assert "command not found" in result.stderr_path.read_text()


def test_cancel_all_stops_a_running_trial_and_its_group(runner: Runner, tmp_path: Path) -> None:
    spec, pids_file = _hanging(tmp_path)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(runner.run(spec)), daemon=True)
    worker.start()
    pids = _read_pids(pids_file)
    t0 = time.monotonic()
    runner.cancel_all()
    worker.join(60)
    assert not worker.is_alive(), "run() did not return after cancel_all()"
    (result,) = results
    assert result.status != "ok"
    assert wait_until(lambda: not any(alive(p) for p in pids), 10, None), "a trial process lives"
    assert time.monotonic() - t0 < 60
