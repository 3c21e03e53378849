"""Shared fixtures: workloads and scenarios in a temporary folder, and the real clusters.

The clusters (a single-node Slurm with and without accounting, a two-node Ray on
loopback) are started by the scripts in ``tests/clusters/`` the first time a test asks
for one, shared by the whole session and stopped at its end (by PID). Set
``TUNEGYM_TEST_KEEP_CLUSTERS=1`` to leave them up for the next session, which then
reuses them.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunegym.outputs.toml import dumps

# Every Ray driver of the suite (local ray.init included, and the tunegym processes the
# tests start) resolves this machine's address to 127.0.0.1: Ray traffic stays on loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

CLUSTERS = Path(__file__).with_name("clusters")
sys.path.insert(0, str(CLUSTERS))
import ray_cluster  # noqa: E402
import slurm_cluster  # noqa: E402

KEEP_CLUSTERS = os.environ.get("TUNEGYM_TEST_KEEP_CLUSTERS") == "1"


def _slurm(accounting: bool) -> Iterator[slurm_cluster.SlurmCluster]:
    missing = slurm_cluster.missing_tools(accounting)
    if missing:
        pytest.fail(
            f"Slurm tests need {', '.join(missing)}: run `make test`, which installs "
            f"{' '.join(slurm_cluster.PACKAGES)} (apt) before the suite"
        )
    cluster = slurm_cluster.up(accounting=accounting)
    yield cluster
    if not KEEP_CLUSTERS:
        slurm_cluster.down(cluster.root)


@pytest.fixture(scope="session")
def slurm_plain_cluster() -> Iterator[slurm_cluster.SlurmCluster]:
    """A real single-node Slurm without accounting (``sacct`` answers "disabled")."""
    yield from _slurm(accounting=False)


@pytest.fixture(scope="session")
def slurm_acct_cluster() -> Iterator[slurm_cluster.SlurmCluster]:
    """A real single-node Slurm with accounting (MariaDB + slurmdbd)."""
    yield from _slurm(accounting=True)


@pytest.fixture(params=["plain", "accounting"])
def slurm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Each real Slurm in turn, with ``SLURM_CONF`` pointing at it for this test."""
    name = "slurm_plain_cluster" if request.param == "plain" else "slurm_acct_cluster"
    cluster = request.getfixturevalue(name)
    for key, value in cluster.env().items():
        monkeypatch.setenv(key, value)
    return cluster


@pytest.fixture
def slurm_plain(slurm_plain_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Slurm without accounting, with ``SLURM_CONF`` pointing at it for this test."""
    for key, value in slurm_plain_cluster.env().items():
        monkeypatch.setenv(key, value)
    return slurm_plain_cluster


@pytest.fixture
def slurm_acct(slurm_acct_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Slurm with accounting, with ``SLURM_CONF`` pointing at it for this test."""
    for key, value in slurm_acct_cluster.env().items():
        monkeypatch.setenv(key, value)
    return slurm_acct_cluster


@pytest.fixture(scope="module")
def ray_two_cpus() -> Iterator[Any]:
    """A local Ray (``ray.init(num_cpus=2)``) for one module, or the one already started."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def ray_cluster_session() -> Iterator[ray_cluster.RayCluster]:
    """A real two-node Ray cluster on loopback (2 CPUs per node)."""
    cluster = ray_cluster.up()
    yield cluster
    if not KEEP_CLUSTERS:
        ray_cluster.down(cluster.root)


@pytest.fixture
def ray_two_nodes(ray_cluster_session: ray_cluster.RayCluster) -> ray_cluster.RayCluster:
    """The two-node cluster with both nodes up (a test may have killed one: restarted)."""
    cluster = ray_cluster_session
    if not ray_cluster.owned(cluster.pids["worker"], str(cluster.root)):
        ray_cluster.start_node(cluster, "worker")
        ray_cluster.wait_for_nodes(cluster, 2)
    return cluster


# A tiny workload program: prints `score: <value>` computed from its --x/--y arguments,
# writes result.json, and can fail or sleep on request.
OBJECTIVE = textwrap.dedent(
    """
    import argparse, json, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, default=0.0)
    p.add_argument("--y", default="a")
    p.add_argument("--fail", default="no")
    p.add_argument("--sleep", type=float, default=0.0)
    a = p.parse_args()
    time.sleep(a.sleep)
    if a.fail == "yes":
        print("boom", file=sys.stderr)
        sys.exit(3)
    score = -(a.x - 3) ** 2 + {"a": 0.0, "b": 1.0, "c": 0.5}.get(a.y, 0.0)
    json.dump({"score": score, "env": os.environ.get("TUNEGYM_PARAM_X")}, open("result.json", "w"))
    print(f"score: {score}")
    """
)


@pytest.fixture
def objective_script(tmp_path: Path) -> Path:
    path = tmp_path / "objective.py"
    path.write_text(OBJECTIVE)
    return path


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    def write(name: str, data: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text(dumps(data))
        return path

    return write


@pytest.fixture
def objective_workload(objective_script: Path) -> Callable[..., dict[str, Any]]:
    """A workload dict over the objective script; keyword arguments update it."""

    def make(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": "objective",
            "command": [sys.executable, str(objective_script), "--x={x}", "--y={y}"],
            "params": {"x": [1, 2, 3, 4], "y": ["a", "b"]},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid", "metrics": ["score"]},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    return make


@pytest.fixture
def binding_modes() -> Callable[[list[str]], list[str]]:
    """``binding_modes(command)``: ``command`` run so that file modes bind on it. As root
    (the suite runs as root in CI), through ``setpriv`` with ``CAP_DAC_OVERRIDE`` dropped;
    as any other user, as it is. For the paths a user may not write to."""

    def wrap(command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "setpriv (util-linux) drops root's override for these tests"
        return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *command]

    return wrap


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """``read_only(folder)``: the folder and everything in it made read-only; writable
    again after the test."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        made.append(folder)

    yield make
    for folder in made:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def finished_run(tmp_path: Path, write_toml: Callable, objective_workload: Callable) -> Path:
    """A run folder (under ``tmp_path/runs``) of a grid over the objective's 8 points,
    made by a real ``tunegym run``."""
    path = write_toml("workload.toml", objective_workload())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunegym.cli.main",
            "run",
            str(path),
            "--output",
            str(tmp_path / "runs"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir
