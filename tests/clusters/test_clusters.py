"""The test clusters' own scripts: safe to re-run, stopped by PID, never someone else's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ray_cluster
import slurm_cluster
from cluster_procs import alive, carrying, owned, stop_pid_file, wait_until


def test_slurm_up_is_safe_to_rerun_and_down_stops_every_daemon(tmp_path: Path) -> None:
    root = Path("/tmp") / f"tg-selftest-{os.getpid()}"  # short: munge's socket path
    try:
        first = slurm_cluster.up(root)
        again = slurm_cluster.up(root)
        assert again.pids == first.pids  # reused, not restarted
        assert first.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"
        submit = ["sbatch", "--parsable", f"--chdir={tmp_path}", "--output=/dev/null"]
        job = first.run(*submit, "--wrap", "sleep 300").stdout.strip()
        running = ["squeue", "-h", "-j", job, "-o", "%T"]
        wait_until(lambda: first.run(*running).stdout.strip() == "RUNNING", 60, "the job")
    finally:
        slurm_cluster.down(root)
    assert not any(alive(pid) for pid in first.pids.values())
    assert carrying(f"{slurm_cluster.MARKER}={root}") == []  # slurmstepd and the job too
    assert not root.exists()


def test_a_recorded_pid_that_is_not_the_clusters_is_left_alone(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file = tmp_path / "daemon.pid"
        pid_file.write_text(str(stranger.pid))
        assert not owned(stranger.pid, str(tmp_path))  # its command line names no cluster
        stop_pid_file(pid_file, str(tmp_path))
        assert stranger.poll() is None and not pid_file.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_ray_up_reuses_the_running_cluster(ray_two_nodes: Any) -> None:
    again = ray_cluster.up(ray_two_nodes.root)
    assert (again.address, again.pids) == (ray_two_nodes.address, ray_two_nodes.pids)
    assert ray_two_nodes.raylet_pid("head") and ray_two_nodes.raylet_pid("worker")
