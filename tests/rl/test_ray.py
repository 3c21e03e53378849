"""The same loop with the Ray data plane: collectors and gradient ranks are Ray actors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tunegym.rl import AsyncGRPOTrainer, AsyncRLConfig
from tunegym.rl.run import train_run


# Most of each run is starting the actors (each imports torch); dp_size 1 in sync mode
# saves one. The async run keeps two gradient ranks, so sharding runs across actors.
@pytest.mark.parametrize(("mode", "staleness", "dp_size"), [("sync", 0, 1), ("async", 2, 2)])
def test_learns_with_ray_actors(
    ray_two_cpus: Any, fast: AsyncRLConfig, margin: float, mode: str, staleness: int, dp_size: int
) -> None:
    plane = {"backend": "ray", "name": f"rl-test-{uuid.uuid4().hex[:8]}", "namespace": "rl-tests"}
    cfg = fast.replace(
        mode=mode, max_staleness=staleness, dp_size=dp_size, plane=plane, claim_poll_s=0.5
    )
    assert cfg.use_ray
    result = AsyncGRPOTrainer(cfg).run()
    assert result.status == "ok"
    assert result.last_reward(10) >= result.untrained_reward + margin
    ledger = result.ledger
    assert len(ledger.claimed) == len(set(ledger.claimed)) == cfg.updates * cfg.batch_size
    assert set(ledger.trained) | set(ledger.dropped) == set(ledger.claimed)
    assert not set(ledger.trained) & set(ledger.dropped)
    assert max(ledger.trained.values()) <= cfg.max_staleness
    # the plane actor was created by the trainer and is gone with it
    with pytest.raises(ValueError):
        ray_two_cpus.get_actor(plane["name"], namespace=plane["namespace"])


def test_a_run_folder_trains_through_a_ray_plane_it_connects_and_closes(
    ray_two_cpus: Any, fast: AsyncRLConfig, tmp_path: Path
) -> None:
    """train_run connects the plane before it makes the run folder, hands it to the
    trainer and closes it (the plane actor it created goes with it)."""
    plane = {"backend": "ray", "name": f"rl-run-{uuid.uuid4().hex[:8]}", "namespace": "rl-tests"}
    cfg = fast.replace(updates=4, dp_size=1, plane=plane, claim_poll_s=0.5, checkpoint_every=2)
    run_dir, summary = train_run(cfg, tmp_path, progress=None)
    assert summary["status"] == "ok" and summary["updates_done"] == 4
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "update-000002.pt",
        "update-000004.pt",
    ]
    with pytest.raises(ValueError):
        ray_two_cpus.get_actor(plane["name"], namespace=plane["namespace"])


def test_collectors_whose_ray_actors_die_end_the_run_with_an_error_naming_them(
    ray_two_cpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Killed Ray actors (as the OOM killer or a lost node leaves them) ended the run in a
    raw ``ActorDiedError`` traceback and no summary; now the run ends with status
    ``error``, a summary and report saying which worker, and exit 1."""
    from tunegym.cli.main import main as tunegym
    from tunegym.rl.run import main
    from tunegym.rl.trainer import AsyncGRPOTrainer as Trainer

    publish = Trainer._publish

    def publish_then_kill_the_collectors(self: Trainer) -> None:
        publish(self)
        if self.version == 2:  # the fault: every collector's actor is killed by Ray
            for collector in self.collectors:
                ray_two_cpus.kill(collector.actor)  # type: ignore[attr-defined]

    monkeypatch.setattr(Trainer, "_publish", publish_then_kill_the_collectors)
    argv = ["--backend", "ray", "--updates", "50", "--dp-size", "1", "--quiet"]
    argv += ["--token-latency", "0", "--train-latency", "0", "--output", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("async-rl: error: collector 0 (a Ray actor) failed in stats(): ")
    assert "ActorDiedError" in err
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error" and summary["message"] in err
    updates = (run_dir / "updates.jsonl").read_text().splitlines()
    assert summary["updates_done"] == len(updates) >= 2
    assert tunegym(["show", str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith("async-rl: error, async RL")


def _wait_until_gone(pid: int, limit_s: float = 30.0) -> None:
    """Until process ``pid`` has exited (gone, or a zombie its parent has not reaped)."""
    deadline = time.monotonic() + limit_s
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still runs {limit_s:g} s after SIGKILL")


def test_one_collector_killed_among_several_ends_the_run_at_the_next_update(
    ray_two_cpus: Any, fast: AsyncRLConfig
) -> None:
    """A collector whose actor process is SIGKILLed while the other keeps the plane full
    (it may run ``max_staleness`` versions ahead) was noticed only once claims timed out:
    the run trained on, on half batches from the survivor. Now the trainer asks every
    collector before each claim, and the run ends before the next update."""
    plane = {"backend": "ray", "name": f"rl-kill-{uuid.uuid4().hex[:8]}", "namespace": "rl-tests"}
    cfg = fast.replace(
        updates=30, max_staleness=6, num_collectors=2, dp_size=1, plane=plane, claim_poll_s=0.5
    )
    killed: list[int] = []

    def kill_collector_0(record: dict[str, Any], trainer: AsyncGRPOTrainer) -> None:
        if record["version"] == 2:
            (collector, _) = trainer.collectors
            pid = collector.call("stats")["pid"]
            assert pid != os.getpid()  # its own actor process, not this one
            os.kill(pid, signal.SIGKILL)
            _wait_until_gone(pid)
            killed.append(pid)

    result = AsyncGRPOTrainer(cfg, on_update=kill_collector_0).run()
    assert killed
    assert result.status == "error"
    assert result.message is not None
    assert result.message.startswith("collector 0 (a Ray actor) failed in stats(): ")
    assert "ActorDiedError" in result.message
    assert result.version == 2  # not one update trained after the collector died
    assert result.final_reward is None


def test_a_collector_that_stops_answering_ends_the_run_at_the_next_update(
    ray_two_cpus: Any, fast: AsyncRLConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collector whose actor process is stopped (SIGSTOP: alive, answering nothing, as
    behind a cut-off node) hung the trainer's health check for ever; now one that does
    not answer within ``STATS_TIMEOUT_S`` has failed, and the run ends with an error."""
    from tunegym.rl import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "STATS_TIMEOUT_S", 3.0)
    plane = {"backend": "ray", "name": f"rl-stop-{uuid.uuid4().hex[:8]}", "namespace": "rl-tests"}
    cfg = fast.replace(
        updates=30, max_staleness=6, num_collectors=2, dp_size=1, plane=plane, claim_poll_s=0.5
    )
    stopped: list[int] = []
    let_go: list[int] = []
    released = threading.Event()

    def release_later() -> None:  # should the run hang on the stopped process after all
        if not released.wait(120):
            let_go.append(stopped[0])
            os.kill(stopped[0], signal.SIGCONT)

    def stop_collector_0(record: dict[str, Any], trainer: AsyncGRPOTrainer) -> None:
        if record["version"] == 2:
            (collector, _) = trainer.collectors
            pid = collector.call("stats")["pid"]
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
            threading.Thread(target=release_later, daemon=True).start()

    try:
        result = AsyncGRPOTrainer(cfg, on_update=stop_collector_0).run()
    finally:
        released.set()
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert stopped and not let_go, "the run returned only once the stopped collector went on"
    assert result.status == "error"
    assert result.message == "collector 0 (a Ray actor) did not answer stats() within 3 s"
    assert result.version == 2
