"""The trainer loop on the memory backend: it learns, in both modes, and loses nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tunegym.dataplane import DataPlaneClient, connect
from tunegym.errors import UsageError
from tunegym.rl import AsyncGRPOTrainer, AsyncRLConfig, TrainResult
from tunegym.rl.collector import FIELDS, PARTITION, TRAINER_TASK


def check_ledger(result: TrainResult, max_staleness: int) -> None:
    """Every claimed sample trained on or dropped exactly once; none trained stale."""
    ledger = result.ledger
    assert len(ledger.claimed) == len(set(ledger.claimed))  # never claimed twice
    trained, dropped = set(ledger.trained), set(ledger.dropped)
    assert not trained & dropped
    assert trained | dropped == set(ledger.claimed)
    assert max(ledger.trained.values()) <= max_staleness
    assert all(age > max_staleness for age in ledger.dropped.values())
    assert sum(r["trained"] for r in result.records) == len(trained)
    assert sum(r["stale_dropped"] for r in result.records) == len(dropped)


@pytest.mark.parametrize(("mode", "staleness"), [("sync", 0), ("async", 1)])
def test_learns_beyond_the_untrained_policy(
    mode: str, staleness: int, fast: AsyncRLConfig, margin: float
) -> None:
    cfg = fast.replace(mode=mode, max_staleness=staleness)
    result = AsyncGRPOTrainer(cfg).run()
    assert result.status == "ok" and result.version == cfg.updates
    assert len(result.records) == cfg.updates
    assert result.last_reward(10) >= result.untrained_reward + margin
    assert result.final_reward is not None
    assert result.final_reward >= result.untrained_reward + margin
    check_ledger(result, cfg.max_staleness)
    assert len(result.ledger.claimed) == cfg.updates * cfg.batch_size
    if mode == "sync":  # collectors wait for each update: nothing can go stale
        assert result.ledger.dropped == {}
        assert all(
            r["oldest_version"] == r["newest_version"] == r["update"] for r in result.records
        )
    tp = result.throughput
    assert tp["samples_per_s"] > 0
    assert 0 <= tp["trainer_idle_fraction"] <= 1
    assert 0 <= tp["collector_idle_fraction"] <= 1


def test_stale_samples_are_dropped_cleared_and_never_trained(fast: AsyncRLConfig) -> None:
    """Samples made by version 0, slipped in once version 3 is published, are too old.

    They are claimed at version 3 or later (at 3 if the plane held no earlier samples
    when they landed), so each one's age is at least 3 > max_staleness=1.
    """
    cfg = fast.replace(updates=8, max_staleness=1)
    plane = connect({"backend": "memory"})
    injected = list(range(10_000, 10_000 + cfg.batch_size))
    n, steps = len(injected), cfg.max_tokens

    def inject(record: dict, trainer: AsyncGRPOTrainer) -> None:
        if record["version"] == 3:
            plane.put_samples(
                injected,
                PARTITION,
                {
                    "a": np.zeros(n, np.int64),
                    "b": np.zeros(n, np.int64),
                    "tokens": np.full((n, steps), 10, np.int64),
                    "mask": np.ones((n, steps), np.float32),
                    "logp": np.zeros((n, steps), np.float32),
                    "advantage": np.zeros(n, np.float32),
                    "reward": np.zeros(n, np.float32),
                },
                tags=[{"weight_version": 0, "reward": 0.0}] * n,
            )

    trainer = AsyncGRPOTrainer(cfg, plane=plane, on_update=inject)
    result = trainer.run()
    assert result.status == "ok"
    check_ledger(result, 1)
    assert set(injected) <= set(result.ledger.dropped)  # every one of them claimed and dropped
    assert all(result.ledger.dropped[i] >= 3 for i in injected)
    # dropped samples were cleared: reading one fails
    with pytest.raises(KeyError):
        plane.get_samples([injected[0]], PARTITION, ["reward"])
    plane.close()


def test_stop_from_another_thread_ends_the_run_as_interrupted(fast: AsyncRLConfig) -> None:
    cfg = fast.replace(updates=1000)

    def stop_after_3(record: dict, trainer: AsyncGRPOTrainer) -> None:
        if record["version"] == 3:
            trainer.stop()

    result = AsyncGRPOTrainer(cfg, on_update=stop_after_3).run()
    assert result.status == "interrupted"
    assert result.version == 3 and result.final_reward is None
    check_ledger(result, cfg.max_staleness)


def test_bad_config_is_refused() -> None:
    with pytest.raises(UsageError, match="group_size"):
        AsyncRLConfig(group_size=1)
    with pytest.raises(UsageError, match="updates"):
        AsyncRLConfig(updates=0)
    with pytest.raises(UsageError, match="unknown"):
        AsyncRLConfig.from_dict({"nope": 1})
    with pytest.raises(UsageError, match="memory data plane"):
        AsyncRLConfig(workers="ray")
    assert AsyncRLConfig(mode="sync", max_staleness=3).max_staleness == 0


def test_an_update_with_every_sample_stale_has_no_reward_and_is_skipped_in_the_tail(
    fast: AsyncRLConfig,
) -> None:
    """max_staleness 0, and a whole batch of version-0 samples put after update 0.

    Whichever update claims them (1 or 2), it finds only stale samples and trains on none.
    """
    cfg = fast.replace(updates=4, max_staleness=0, num_collectors=1)
    plane = connect({"backend": "memory"})
    n, steps = cfg.batch_size, cfg.max_tokens
    state = {"done": False}

    def inject(record: dict, trainer: AsyncGRPOTrainer) -> None:
        if record["version"] == 1 and not state["done"]:
            state["done"] = True
            ids = list(range(20_000, 20_000 + n))
            plane.put_samples(
                ids,
                PARTITION,
                {
                    "a": np.zeros(n, np.int64),
                    "b": np.zeros(n, np.int64),
                    "tokens": np.full((n, steps), 10, np.int64),
                    "mask": np.ones((n, steps), np.float32),
                    "logp": np.zeros((n, steps), np.float32),
                    "advantage": np.zeros(n, np.float32),
                    "reward": np.zeros(n, np.float32),
                },
                tags=[{"weight_version": 0, "reward": 0.0}] * n,
            )

    result = AsyncGRPOTrainer(cfg, plane=plane, on_update=inject).run()
    plane.close()
    check_ledger(result, 0)
    empty = [r for r in result.records if r["trained"] == 0]
    assert empty and all(r["reward"] is None for r in empty)
    assert not np.isnan(result.last_reward(10))


def _holds_rollouts(plane: DataPlaneClient) -> bool:
    """Whether any sample is in the partition (a task that never claimed has not consumed
    one of them)."""
    return not plane.check_consumption_status(PARTITION, ["a-task-that-never-claims"])


def test_a_stopped_trainer_leaves_nothing_and_the_next_run_on_the_plane_trains(
    fast: AsyncRLConfig,
) -> None:
    """Collectors ahead of the stopped trainer left rollouts of version 3+ in the plane;
    the next run claimed them at version 0 ('newer than the current 0')."""
    plane = connect({"backend": "memory"})
    cfg = fast.replace(updates=1000, max_staleness=2, train_latency_s=0.005)

    def stop_after_3(record: dict, trainer: AsyncGRPOTrainer) -> None:
        if record["version"] == 3:
            trainer.stop()

    first = AsyncGRPOTrainer(cfg, plane=plane, on_update=stop_after_3).run()
    assert first.status == "interrupted"
    assert not _holds_rollouts(plane)
    second = AsyncGRPOTrainer(cfg.replace(updates=5), plane=plane).run()
    assert second.status == "ok" and second.version == 5
    check_ledger(second, cfg.max_staleness)
    assert not _holds_rollouts(plane)
    plane.close()


def test_a_run_that_fails_also_clears_its_rollouts(fast: AsyncRLConfig) -> None:
    plane = connect({"backend": "memory"})

    def fail(record: dict, trainer: AsyncGRPOTrainer) -> None:
        raise RuntimeError("the hook failed")

    with pytest.raises(RuntimeError, match="the hook failed"):
        AsyncGRPOTrainer(fast.replace(updates=100), plane=plane, on_update=fail).run()
    assert not _holds_rollouts(plane)
    plane.close()


def test_a_partition_holding_another_runs_rollouts_is_refused_and_kept(
    fast: AsyncRLConfig,
) -> None:
    plane = connect({"backend": "memory"})
    plane.register_partition(PARTITION, FIELDS, consumer_tasks=[TRAINER_TASK])
    plane.put_samples([7], PARTITION, {"a": np.zeros(1, np.int64)}, tags=[{"weight_version": 4}])
    with pytest.raises(UsageError, match="partition 'rollouts' already holds rollouts"):
        AsyncGRPOTrainer(fast, plane=plane).run()
    with pytest.raises(UsageError, match="partition 'rollouts' already holds rollouts"):
        AsyncGRPOTrainer(fast).attach(plane)  # what train_run checks before writing
    assert plane.get_samples([7], PARTITION, ["a"])["a"].tolist() == [0]  # not cleared
    plane.close()


def test_one_collector_whose_loop_raises_among_several_ends_the_run_at_the_next_update(
    fast: AsyncRLConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other collector, up to ``max_staleness`` versions ahead, kept the claims full,
    so the trainer trained on until they ran dry; now it asks every collector before each
    claim, and at most the update in progress when the loop died is finished."""
    from tunegym.rl.collector import PolicyCollector

    cfg = fast.replace(updates=30, max_staleness=6, num_collectors=2)
    trainer = AsyncGRPOTrainer(cfg)
    died_at: list[int] = []
    generate, run = PolicyCollector._generate, PolicyCollector._run

    def generate_until_update_3(self: PolicyCollector, update: int) -> None:
        if self.index == 0 and update == 3:
            raise RuntimeError("the engine crashed")
        generate(self, update)

    def run_and_note_the_trainers_version(self: PolicyCollector) -> None:
        run(self)
        if self.index == 0:  # the error is in stats() by now
            died_at.append(trainer.version)

    monkeypatch.setattr(PolicyCollector, "_generate", generate_until_update_3)
    monkeypatch.setattr(PolicyCollector, "_run", run_and_note_the_trainers_version)
    result = trainer.run()
    assert result.status == "error"
    assert result.message == "collector 0 failed: RuntimeError: the engine crashed"
    (version,) = died_at
    assert result.version <= version + 1
