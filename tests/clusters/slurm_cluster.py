"""A single-node Slurm 22.05 cluster on loopback, for the test suite and by hand.

    python tests/clusters/slurm_cluster.py up   [--accounting] [ROOT]   # safe to re-run
    python tests/clusters/slurm_cluster.py down [ROOT]

Debian's ``slurm-wlm`` and ``munge`` (plus ``mariadb-server`` and ``slurmdbd`` for
accounting; ``make test`` installs them). No systemd, no cgroups: every daemon runs in
the foreground in its own session, with its files under ROOT and ports picked free, so
several clusters (and several engineers) can share the machine:

* ``munged --force`` with its own key, socket, pid and seed files; ``AuthInfo=socket=...``
  points Slurm at it, and every client needs ``SLURM_CONF`` (:meth:`SlurmCluster.env`).
* ``slurmctld`` and ``slurmd`` as root with ``proctrack/linuxproc``, ``task/none``,
  ``jobacct_gather/none``, ``select/cons_tres`` with ``CR_Core`` and the node line from
  ``slurmd -C`` (without ``UpTime``), one default partition.
* With accounting: MariaDB bound to 127.0.0.1 on its own port with a data folder under
  ROOT, and ``slurmdbd``. ``sacct``/``sacctmgr`` ignore ``AuthInfo`` when they talk to
  slurmdbd, so the munge socket also goes in ``AccountingStoragePass``. Without
  accounting ``sacct`` answers "Slurm accounting storage is disabled".

``ROOT/cluster.json`` records each daemon's PID; ``down`` stops each one's session by it
(a PID is trusted only while the process still names ROOT).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cluster_procs import (
    carrying,
    default_root,
    free_ports,
    owned,
    stop_pid,
    stop_session,
    tail,
    wait_until,
)

START_TIMEOUT_S = 60.0
MARKER = "TUNEGYM_TEST_CLUSTER"
"""Every daemon (and what it forks, slurmstepd included) carries ``MARKER=<root>``."""
PACKAGES = ("slurm-wlm", "munge", "mariadb-server", "slurmdbd")


@dataclass
class SlurmCluster:
    root: Path
    accounting: bool
    name: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    def env(self) -> dict[str, str]:
        """What every Slurm client (sbatch, squeue, sacct, scancel) needs."""
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env()},
            check=check,
            timeout=60,
        )

    def save(self) -> None:
        data = {"accounting": self.accounting, "name": self.name, "pids": self.pids}
        (self.root / "cluster.json").write_text(json.dumps(data, indent=2))

    def daemons(self) -> tuple[str, ...]:
        base = ("munged", "slurmctld", "slurmd")
        return (
            ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd") if self.accounting else base
        )


def load(root: Path) -> SlurmCluster | None:
    try:
        data = json.loads((root / "cluster.json").read_text())
    except (OSError, ValueError):
        return None
    return SlurmCluster(root, bool(data["accounting"]), data["name"], dict(data["pids"]))


def missing_tools(accounting: bool) -> list[str]:
    tools = ["munged", "slurmctld", "slurmd", "sbatch"]
    if accounting:
        tools += ["mariadbd", "mariadb-install-db", "slurmdbd"]
    return [t for t in tools if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]


def _running(cluster: SlurmCluster) -> bool:
    if not all(
        name in cluster.pids and owned(cluster.pids[name], str(cluster.root))
        for name in cluster.daemons()
    ):
        return False
    return cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip() == "idle"


def up(root: Path | None = None, accounting: bool = False) -> SlurmCluster:
    """Start the cluster under ``root`` or return the one already running there."""
    root = (root or default_root("slurm-acct" if accounting else "slurm")).resolve()
    cluster = load(root)
    if cluster is not None and cluster.accounting == accounting and _running(cluster):
        return cluster
    down(root)
    if missing := missing_tools(accounting):
        raise RuntimeError(f"not installed: {', '.join(missing)} (apt-get install {PACKAGES})")
    for sub in ("etc", "munge", "state", "spool", "log", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    name = "tg" + hashlib.sha1(str(root).encode()).hexdigest()[:8]
    cluster = SlurmCluster(root, accounting, name)
    ports = dict(zip(("ctld", "slurmd", "dbd", "db"), free_ports(4), strict=True))
    try:
        _start_munge(cluster)
        if accounting:
            _start_accounting(cluster, ports)
        _write_slurm_conf(cluster, ports)
        _start(cluster, "slurmctld", ["slurmctld", "-D", "-c", "-i", "-f", str(cluster.conf)])
        node = "tgnode"
        _start(cluster, "slurmd", ["slurmd", "-D", "-N", node, "-f", str(cluster.conf)])
        wait_until(
            lambda: cluster.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip() == "idle",
            START_TIMEOUT_S,
            "the Slurm node to be idle",
        )
    except BaseException as exc:
        logs = "\n".join(f"--- {p.name}\n{tail(p, 15)}" for p in sorted(root.glob("log/*.log")))
        down(root, remove=False)
        if isinstance(exc, Exception):
            raise RuntimeError(f"Slurm cluster did not start: {exc}\n{logs}") from exc
        raise
    return cluster


def _start(cluster: SlurmCluster, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    log = cluster.root / "log" / f"{name}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **cluster.env(), MARKER: str(cluster.root)},
            start_new_session=True,
        )
    cluster.pids[name] = proc.pid
    cluster.save()
    time.sleep(0.05)
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited with {proc.returncode}: {tail(log)}")
    return proc


def _start_munge(cluster: SlurmCluster) -> None:
    folder = cluster.root / "munge"
    key = folder / "munge.key"
    key.unlink(missing_ok=True)
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    folder.chmod(0o700)
    socket_path = folder / "munged.sock"
    _start(
        cluster,
        "munged",
        [
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={socket_path}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--seed-file={folder / 'munged.seed'}",
            f"--log-file={cluster.root / 'log' / 'munged.log'}",
        ],
    )
    wait_until(socket_path.exists, START_TIMEOUT_S, "the munge socket")


def _munge_socket(cluster: SlurmCluster) -> Path:
    return cluster.root / "munge" / "munged.sock"


def _start_accounting(cluster: SlurmCluster, ports: dict[str, int]) -> None:
    data = cluster.root / "db"
    db_socket = cluster.root / "run" / "mariadb.sock"
    if data.exists():
        shutil.rmtree(data)
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    _start(
        cluster,
        "mariadbd",
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={db_socket}",
            f"--port={ports['db']}",
            "--bind-address=127.0.0.1",
            f"--pid-file={cluster.root / 'run' / 'mariadb.pid'}",
            f"--log-error={cluster.root / 'log' / 'mariadb.log'}",
            "--user=root",
            "--innodb-buffer-pool-size=64M",
            "--skip-log-bin",
        ],
    )
    wait_until(lambda: _port_open(ports["db"]), START_TIMEOUT_S, "MariaDB")
    host = socket.gethostname().split(".")[0]
    dbd_conf = cluster.root / "etc" / "slurmdbd.conf"
    dbd_conf.write_text(
        "\n".join(
            [
                "AuthType=auth/munge",
                f"AuthInfo=socket={_munge_socket(cluster)}",
                f"DbdHost={host}",
                "DbdAddr=127.0.0.1",
                f"DbdPort={ports['dbd']}",
                "SlurmUser=root",
                "StorageType=accounting_storage/mysql",
                "StorageHost=127.0.0.1",
                f"StoragePort={ports['db']}",
                "StorageUser=root",
                f"StorageLoc={cluster.name}_acct",
                f"PidFile={cluster.root / 'run' / 'slurmdbd.pid'}",
                f"LogFile={cluster.root / 'log' / 'slurmdbd.log'}",
                "DebugLevel=info",
                "",
            ]
        )
    )
    dbd_conf.chmod(0o600)
    _write_slurm_conf(cluster, ports)  # slurmdbd finds its conf next to SLURM_CONF
    _start(cluster, "slurmdbd", ["slurmdbd", "-D"])
    wait_until(lambda: _port_open(ports["dbd"]), START_TIMEOUT_S, "slurmdbd")
    cluster.run("sacctmgr", "-i", "add", "cluster", cluster.name, check=False)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _node_line() -> str:
    """This machine's node line from ``slurmd -C``, renamed, without ``UpTime``."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    fields = [f for f in out.split() if not f.startswith(("NodeName=", "UpTime="))]
    return " ".join(fields)


def _write_slurm_conf(cluster: SlurmCluster, ports: dict[str, int]) -> None:
    root = cluster.root
    host = socket.gethostname().split(".")[0]
    lines = [
        f"ClusterName={cluster.name}",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ports['ctld']}",
        f"SlurmdPort={ports['slurmd']}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        f"AuthInfo=socket={_munge_socket(cluster)}",
        "CredType=cred/munge",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root / 'log' / 'jobcomp.txt'}",
        "MpiDefault=none",
        "ReturnToService=2",
        "SchedulerType=sched/backfill",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=60",
        "KillWait=30",  # Slurm's default: SIGTERM, then SIGKILL 30 s later
        "InactiveLimit=0",
        "MinJobAge=300",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
    ]
    if cluster.accounting:
        lines += [
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1",
            f"AccountingStoragePort={ports['dbd']}",
            f"AccountingStoragePass={_munge_socket(cluster)}",
        ]
    else:
        lines.append("AccountingStorageType=accounting_storage/none")
    lines += [
        f"NodeName=tgnode NodeAddr=127.0.0.1 NodeHostname={host} {_node_line()} State=UNKNOWN",
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        "",
    ]
    cluster.conf.write_text("\n".join(lines))


def down(root: Path | None = None, remove: bool = True, accounting: bool = False) -> None:
    """Stop every daemon recorded under ``root`` (by PID, in reverse start order)."""
    root = (root or default_root("slurm-acct" if accounting else "slurm")).resolve()
    cluster = load(root)
    if cluster is not None:
        if "slurmctld" in cluster.pids and owned(cluster.pids["slurmctld"], str(root)):
            user = pwd.getpwuid(os.getuid()).pw_name  # this cluster's jobs: SLURM_CONF is ours
            cluster.run("scancel", "--user", user, check=False)
            wait_until(
                lambda: not cluster.run("squeue", "-h", check=False).stdout.strip(), 15, None
            )
        for name in reversed(list(cluster.pids)):
            pid = cluster.pids[name]
            if owned(pid, str(root)):
                stop_session(pid, grace_s=3.0)
    # slurmstepd leaves slurmd's session (a daemon per job step) but keeps its environment.
    for pid in carrying(f"{MARKER}={root}"):
        stop_session(pid, grace_s=1.0)
        stop_pid(pid)
    if remove and root.exists():
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    accounting = "--accounting" in argv
    args = [a for a in argv if a != "--accounting"]
    if len(args) not in (1, 2) or args[0] not in ("up", "down"):
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(args[1]) if len(args) == 2 else None
    if args[0] == "down":
        down(root, accounting=accounting)
        return 0
    t0 = time.monotonic()
    cluster = up(root, accounting)
    print(f"SLURM_CONF={cluster.conf} ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
