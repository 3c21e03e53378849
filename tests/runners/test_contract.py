"""The runner contract, run over every runner against the real thing.

Every runner in :data:`RUNNERS` gets every test here: exit codes (and where stdout and
stderr land), a timeout that takes down the trial's whole process group (a grandchild
that ignores SIGTERM included), a command that does not exist, and ``cancel_all`` from
another thread. The runners run for real: a subprocess here (local), a task on the
two-node Ray cluster (driven from its own process, see ``tests/clusters/ray_driver.py``),
a job on the single-node Slurm with and without accounting. All of them run on this
machine, so the test can check that no process of a trial is left.

A new runner gets the suite by adding one entry to :data:`RUNNERS`: a name and a
function ``(request, tmp_path) -> Runner``.
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

from tunegym.runners.base import Runner, TrialSpec
from tunegym.runners.local import LocalRunner
from tunegym.runners.slurm import SlurmRunner
from tunegym.spec.models import RaySpec, SlurmSpec


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    return LocalRunner()


def _ray(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    runner: ray_driver.RemoteRayRunner = request.getfixturevalue("ray_cluster_runner")
    return runner  # type: ignore[return-value]


def _slurm(fixture: str) -> Callable[[pytest.FixtureRequest, Path], Runner]:
    def make(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
        request.getfixturevalue(fixture)  # the cluster, with SLURM_CONF set for the test
        return SlurmRunner(SlurmSpec(poll_interval_s=0.2), job_name="tunegym-contract")

    return make


RUNNERS: dict[str, Callable[[pytest.FixtureRequest, Path], Runner]] = {
    "local": _local,
    "ray-two-nodes": _ray,
    "slurm": _slurm("slurm_plain"),
    "slurm-accounting": _slurm("slurm_acct"),
}


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


@pytest.fixture(params=list(RUNNERS))
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    return RUNNERS[request.param](request, tmp_path)


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
