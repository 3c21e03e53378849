"""A two-node Ray cluster on loopback, for the test suite and by hand.

    python tests/clusters/ray_cluster.py up   [ROOT]   # prints the address; safe to re-run
    python tests/clusters/ray_cluster.py down [ROOT]

Both nodes are ``ray start --block`` processes on this machine, each in its own session,
with ``--node-ip-address=127.0.0.1``, its own ``--temp-dir`` and ``TMPDIR`` under ROOT,
and every port picked free (the machine is shared: never Ray's fixed defaults). The head
runs with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that it advertises 127.0.0.1 and
not the machine's address; the worker node cannot (``ray start`` then refuses to join)
and needs none, since it is given its address. Token authentication is always on, with
a token of the cluster's own (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``), so the suite
behaves the same whether or not ``~/.ray/auth_token`` exists; :meth:`RayCluster.env` is
what a driver needs. ``ROOT/cluster.json`` records the address and each node's PID;
``down`` stops each node's whole session by that PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cluster_procs import (
    alive,
    default_root,
    free_ports,
    owned,
    session_members,
    stop_session,
    tail,
    wait_until,
)

NODE_CPUS = 2
START_TIMEOUT_S = 180.0
NODES = ("head", "worker")
NODE_IPS = {"head": "127.0.0.2", "worker": "127.0.0.3"}


def _ray_bin() -> str:
    candidate = Path(sys.executable).with_name("ray")
    return str(candidate) if candidate.exists() else "ray"


@dataclass
class RayCluster:
    root: Path
    address: str
    token: str
    pids: dict[str, int] = field(default_factory=dict)

    def env(self, auth: bool = True) -> dict[str, str]:
        """The variables a driver of this cluster needs (``auth=False``: no token mode)."""
        env = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_TOKEN": self.token}
        if auth:
            env["RAY_AUTH_MODE"] = "token"
        return env

    def tmpdir(self, node: str) -> Path:
        """The node's ``TMPDIR``: where the Ray runner puts its trial scratch folders."""
        return self.root / node / "tmp"

    def node_processes(self, node: str) -> list[int]:
        return session_members(self.pids[node])

    def raylet_pid(self, node: str) -> int | None:
        for pid in self.node_processes(node):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "raylet":
                    return pid
            except OSError:
                continue
        return None

    def save(self) -> None:
        data = {"address": self.address, "token": self.token, "pids": self.pids}
        (self.root / "cluster.json").write_text(json.dumps(data, indent=2))


def load(root: Path) -> RayCluster | None:
    try:
        data = json.loads((root / "cluster.json").read_text())
    except (OSError, ValueError):
        return None
    return RayCluster(root, data["address"], data["token"], dict(data["pids"]))


def _running(cluster: RayCluster) -> bool:
    return all(
        node in cluster.pids and owned(cluster.pids[node], str(cluster.root)) for node in NODES
    )


def up(root: Path | None = None) -> RayCluster:
    """Start the cluster under ``root`` or return the one already running there."""
    root = (root or default_root("ray")).resolve()
    cluster = load(root)
    if cluster is not None and _running(cluster):
        return cluster
    down(root)
    root.mkdir(parents=True, exist_ok=True)
    port = free_ports(1)[0]
    cluster = RayCluster(root, f"{NODE_IPS['head']}:{port}", secrets.token_hex(32))
    for node in NODES:
        start_node(cluster, node)
    return cluster


def start_node(cluster: RayCluster, node: str) -> None:
    """Start (or restart) one node and wait until it is up; records its PID."""
    folder = cluster.root / node
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    cluster.tmpdir(node).mkdir(parents=True)
    ports = free_ports(9)
    argv = [
        _ray_bin(),
        "start",
        "--block",
        f"--node-ip-address={NODE_IPS[node]}",
        f"--num-cpus={NODE_CPUS}",
        f"--temp-dir={folder}",
        f"--node-manager-port={ports[0]}",
        f"--object-manager-port={ports[1]}",
        f"--dashboard-agent-listen-port={ports[2]}",
        f"--dashboard-agent-grpc-port={ports[3]}",
        f"--runtime-env-agent-port={ports[4]}",
        f"--metrics-export-port={ports[5]}",
        "--min-worker-port=0",
        "--max-worker-port=0",
        "--disable-usage-stats",
        "--log-style=record",
        "--object-store-memory=200000000",
    ]
    env = {**os.environ, **cluster.env(), "TMPDIR": str(cluster.tmpdir(node))}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")  # ray start refuses a worker node with it
    if node == "head":
        port = cluster.address.rsplit(":", 1)[1]
        argv += [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--dashboard-port={ports[6]}",
            f"--ray-client-server-port={ports[7]}",
        ]
    else:
        argv.append(f"--address={cluster.address}")
    log = cluster.root / f"{node}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    cluster.pids[node] = proc.pid
    cluster.save()
    try:
        wait_until(
            lambda: (
                "Ray runtime started" in log.read_text(errors="replace") or proc.poll() is not None
            ),
            START_TIMEOUT_S,
            f"Ray {node} node to start",
        )
    except TimeoutError as exc:
        raise RuntimeError(f"{exc}; log:\n{tail(log)}") from None
    if proc.poll() is not None:
        raise RuntimeError(f"Ray {node} node exited with {proc.returncode}; log:\n{tail(log)}")


def crash_node(cluster: RayCluster, node: str) -> list[int]:
    """SIGKILL every process of the node at once (raylet, workers, agents), as a machine
    that dies would lose them; returns their PIDs. Trials run in sessions of their own:
    the caller kills those it knows of."""
    pids = cluster.node_processes(node)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def stop_node(cluster: RayCluster, node: str) -> None:
    pid = cluster.pids.get(node)
    if pid is not None and owned(pid, str(cluster.root)):
        stop_session(pid, grace_s=0.5)


def down(root: Path | None = None) -> None:
    """Stop every node recorded under ``root`` (by PID) and remove the folder."""
    root = (root or default_root("ray")).resolve()
    cluster = load(root)
    if cluster is not None:
        for node in reversed(NODES):
            stop_node(cluster, node)
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)


def wait_for_nodes(cluster: RayCluster, count: int, timeout_s: float = 60.0) -> None:
    """Wait until ``count`` nodes are alive in the cluster (asks from a subprocess)."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False);"
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )

    def enough() -> bool:
        proc = subprocess.run(
            [sys.executable, "-c", probe, cluster.address],
            capture_output=True,
            text=True,
            env={**os.environ, **cluster.env()},
            timeout=120,
        )
        return proc.returncode == 0 and proc.stdout.strip().splitlines()[-1:] == [str(count)]

    wait_until(enough, timeout_s, f"{count} Ray nodes", interval_s=1.0)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] not in ("up", "down"):
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else None
    if argv[0] == "down":
        down(root)
        return 0
    t0 = time.monotonic()
    cluster = up(root)
    print(f"address={cluster.address} root={cluster.root} ({time.monotonic() - t0:.1f} s)")
    for node, pid in cluster.pids.items():
        print(f"{node}: pid {pid} alive={alive(pid)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
