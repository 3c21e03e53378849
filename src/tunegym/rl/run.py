"""A training run with a run folder: progress, curve, report, checkpoints, resume, Ctrl-C.

``train_run(config, output)`` makes ``<output>/async-rl_<timestamp>/`` and writes:

* ``config.json``: the :class:`~tunegym.rl.config.AsyncRLConfig`;
* ``updates.jsonl``: one line per policy update as it happens (reward, samples claimed,
  trained and dropped as stale, claim wait, step time, reward per generating version);
* ``checkpoints/update-<version>.pt`` every ``checkpoint_every`` updates;
* at the end (also after Ctrl-C): ``summary.json`` (``kind: "async_rl"``: status,
  untrained/final reward, learning curve per policy version, throughput) and
  ``report.html``.

``train_run(..., resume=run_dir)`` continues that folder from its last checkpoint (its
``updates``, when a config is given, must be beyond the checkpoint's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from tunegym.dataplane import connect
from tunegym.errors import TunegymError, UsageError
from tunegym.outputs.files import atomic_write_text
from tunegym.report.training import write_training_report
from tunegym.results.training import KIND, reward_per_version, started_record, training_process
from tunegym.rl import checkpoint as ckpt
from tunegym.rl.config import AsyncRLConfig
from tunegym.rl.trainer import AsyncGRPOTrainer, TrainResult
from tunegym.session.folder import make_run_dir

RUN_NAME = "async-rl"
CHECKPOINTS = "checkpoints"
UPDATES = "updates.jsonl"


def build_summary(
    config: AsyncRLConfig, run_dir: Path, result: TrainResult, started: float, resumed: list[float]
) -> dict[str, Any]:
    records = result.records
    return {
        "kind": KIND,
        "scenario": RUN_NAME,
        "status": result.status,
        "message": result.message,
        "run_dir": str(run_dir),
        "started_at": started,
        "finished_at": time.time(),
        "resumed_at": resumed,
        "config": config.to_dict(),
        "updates_done": result.version,
        "untrained_reward": result.untrained_reward,
        "final_reward": result.final_reward,
        "last_updates_reward": None if not records else round(result.last_reward(), 6),
        "stale_dropped": sum(r["stale_dropped"] for r in records),
        "samples_claimed": sum(r["claimed"] for r in records),
        "throughput": {k: round(v, 6) for k, v in result.throughput.items()},
        "reward_per_version": reward_per_version(records),
    }


class _Progress:
    """One line per update on ``stream`` (``every`` updates when there are many)."""

    def __init__(self, config: AsyncRLConfig, stream: TextIO | None) -> None:
        self.total = config.updates
        self.every = max(1, config.updates // 30)
        self.stream = stream

    def __call__(self, record: dict[str, Any]) -> None:
        if self.stream is None:
            return
        v = record["version"]
        if v % self.every and v != self.total:
            return
        rate = record["claimed"] / max(record["claim_wait_s"] + record["step_s"], 1e-9)
        reward = "  -  " if record["reward"] is None else f"{record['reward']:.3f}"
        self.stream.write(
            f"update {v:>4}/{self.total}  reward {reward}  "
            f"stale {record['stale_dropped']:>3}  {rate:7.0f} samples/s  "
            f"{record['elapsed_s']:6.1f}s\n"
        )
        self.stream.flush()


def _recorded_run(path: Path) -> tuple[AsyncRLConfig, float, list[float]]:
    """The config, start time and earlier resume times ``config.json`` records; a
    :class:`UsageError` naming the file when it does not hold them."""
    try:
        meta = json.loads(path.read_text())
        config = AsyncRLConfig.from_dict(meta["config"])
        return config, float(meta["started_at"]), [float(t) for t in meta.get("resumed_at", [])]
    except UsageError as exc:  # a value AsyncRLConfig refuses
        raise UsageError(f"cannot resume: {path} is damaged ({exc})") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise UsageError(f"cannot resume: {path} is damaged ({why})") from None


def _refuse_nothing_to_do(version: int, updates: int, *, asked: bool) -> None:
    """A resume whose checkpoint already reached the target would train nothing (and
    rewrite the run's target): a :class:`UsageError` saying what to give instead."""
    if asked:
        raise UsageError(
            f"cannot resume: the checkpoint is already at update {version}; "
            f"--updates must be larger (got {updates})"
        )
    raise UsageError(
        f"cannot resume: the checkpoint is already at update {version}, the run's target "
        f"of {updates} updates; give --updates larger than {version} to train further"
    )


def _resume_from(
    run_dir: Path, config: AsyncRLConfig | None, progress: TextIO | None
) -> tuple[AsyncRLConfig, Path, float, list[float], bool]:
    """What resuming ``run_dir`` continues: its config (``config.updates`` as the new
    target, when given), newest loadable checkpoint, start time, earlier resume times,
    and whether the target was given; a :class:`UsageError` when it cannot (also when
    another process is still training it, as ``tunegym show`` tells)."""
    meta_path = run_dir / "config.json"
    if not meta_path.is_file():
        raise UsageError(f"cannot resume: {run_dir} has no config.json (not an async-rl run)")
    saved, started, earlier = _recorded_run(meta_path)
    process = training_process(run_dir)
    if process is not None:  # two trainers in one folder: the first one's updates are lost
        raise UsageError(
            f"cannot resume: {run_dir} is still training (process {process.get('pid')} on "
            f"{process.get('host')} is alive); let it end or stop it (Ctrl-C) first"
        )
    asked_updates = config is not None
    config = saved if config is None else saved.replace(updates=config.updates)
    checkpoint, passed_over = ckpt.newest_loadable(run_dir / CHECKPOINTS)
    if checkpoint is None:
        why = f" ({'; '.join(passed_over)})" if passed_over else ""
        raise UsageError(f"cannot resume: no usable checkpoint in {run_dir / CHECKPOINTS}{why}")
    if progress is not None:
        for reason in passed_over:
            progress.write(f"async-rl: warning: {reason}; resuming from an older one\n")
    return config, checkpoint, started, earlier, asked_updates


def _trainer(config: AsyncRLConfig, checkpoint: Path | None, asked: bool) -> AsyncGRPOTrainer:
    """The trainer, from ``checkpoint`` when resuming; a :class:`UsageError` when the
    checkpoint does not fit ``config`` or leaves nothing to train."""
    try:
        trainer = AsyncGRPOTrainer(config, resume=checkpoint)
    except ckpt.CheckpointError as exc:  # e.g. a config.json edited to another model size
        raise UsageError(f"cannot resume: {exc}") from None
    if checkpoint is not None and trainer.version >= config.updates:
        _refuse_nothing_to_do(trainer.version, config.updates, asked=asked)
    return trainer


def train_run(
    config: AsyncRLConfig | None = None,
    output: Path | str = "runs",
    *,
    resume: Path | str | None = None,
    progress: TextIO | None = sys.stderr,
) -> tuple[Path, dict[str, Any]]:
    """Train in a run folder (see module doc); returns the folder and its summary.

    Everything that can fail before training (the checkpoint, the data plane) is done
    before the run folder is made or written to: a failed start changes nothing.
    """
    resumed: list[float] = []
    checkpoint = None
    asked_updates = False
    run_dir: Path | None = None  # made once nothing can fail any more
    if resume is not None:
        run_dir = folder = Path(resume).resolve()
        config, checkpoint, started, earlier, asked_updates = _resume_from(folder, config, progress)
        resumed = [*earlier, time.time()]
    else:
        config = config or AsyncRLConfig()
        started = time.time()
    trainer = _trainer(config, checkpoint, asked_updates)
    plane = connect(config.plane)
    try:
        trainer.attach(plane)
        if run_dir is None:
            run_dir = make_run_dir(Path(output).resolve(), RUN_NAME)
        trainer.checkpoint_dir = run_dir / CHECKPOINTS
        return _train_in(run_dir, trainer, bool(checkpoint), started, resumed, progress)
    finally:
        plane.close()


def _train_in(
    run_dir: Path,
    trainer: AsyncGRPOTrainer,
    resuming: bool,
    started: float,
    resumed: list[float],
    progress: TextIO | None,
) -> tuple[Path, dict[str, Any]]:
    """Record the run in ``run_dir`` and train (see module doc)."""
    config = trainer.cfg
    show = _Progress(config, progress)
    updates_path = run_dir / UPDATES
    atomic_write_text(  # only once the checkpoint has loaded: a failed resume changes nothing
        run_dir / "config.json",
        json.dumps(started_record(config.to_dict(), started, resumed), indent=2),
    )
    # The curve on disk is the checkpoint's (later updates of an interrupted run are redone).
    atomic_write_text(updates_path, "".join(json.dumps(r) + "\n" for r in trainer.records))
    with updates_path.open("a") as log:

        def on_update(record: dict[str, Any], _: AsyncGRPOTrainer) -> None:
            log.write(json.dumps(record) + "\n")
            log.flush()
            show(record)

        trainer.on_update = on_update
        if progress is not None:
            where = f"from update {trainer.version}" if resuming else "from scratch"
            progress.write(
                f"async-rl: {config.mode} (max_staleness {config.max_staleness}), "
                f"{config.num_collectors} collectors, dp_size {config.dp_size}, "
                f"{config.updates} updates of {config.batch_size} samples, {where}; "
                f"run folder {run_dir}\n"
            )
        result = trainer.run()
    summary = build_summary(config, run_dir, result, started, resumed)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_training_report(run_dir / "report.html", summary, result.records)
    if progress is not None:
        progress.write(
            f"async-rl: {result.status}; reward {summary['untrained_reward']:.3f} untrained -> "
            f"{summary['last_updates_reward'] or 0:.3f} (last updates); "
            f"{summary['throughput']['samples_per_s']:.0f} samples/s; "
            f"report {run_dir / 'report.html'}\n"
        )
    return run_dir, summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="async-rl", description="GRPO through the tunegym data plane, async or sync."
    )
    parser.add_argument("--mode", choices=["async", "sync"], default="async")
    parser.add_argument("--max-staleness", type=int, default=1)
    parser.add_argument("--updates", type=int, default=None)
    parser.add_argument("--collectors", type=int, default=2)
    parser.add_argument("--dp-size", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["memory", "ray"], default="memory")
    parser.add_argument(
        "--token-latency", type=float, default=0.04, help="seconds per decoding step"
    )
    parser.add_argument(
        "--train-latency", type=float, default=0.0012, help="seconds per sample per rank"
    )
    parser.add_argument("--checkpoint-every", type=int, default=20)
    parser.add_argument("--output", default="runs")
    parser.add_argument("--resume", default=None, help="a run folder to continue")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The example's command line; exit 0 when finished, 130 after Ctrl-C, 2 on bad input."""
    args = parse_args(argv)
    try:
        config = None
        if args.resume is None or args.updates is not None:
            plane: dict[str, Any] = {"backend": args.backend}
            if args.backend == "ray":
                plane["name"] = f"tunegym-async-rl-{time.time_ns()}"
            config = AsyncRLConfig(
                mode=args.mode,
                max_staleness=args.max_staleness,
                updates=300 if args.updates is None else args.updates,
                num_collectors=args.collectors,
                dp_size=args.dp_size,
                seed=args.seed,
                token_latency_s=args.token_latency,
                train_latency_s=args.train_latency,
                checkpoint_every=args.checkpoint_every,
                plane=plane,
            )
        _, summary = train_run(
            config, args.output, resume=args.resume, progress=None if args.quiet else sys.stderr
        )
    except TunegymError as exc:  # bad input (exit 2), a full disk, ...
        print(f"async-rl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # before training started: nothing recorded yet
        print("async-rl: interrupted", file=sys.stderr)
        return 130
    if summary["status"] == "error":  # a collector or rank failed; what was trained is kept
        print(
            f"async-rl: error: {summary['message']}; the run folder keeps "
            f"{summary['updates_done']} update(s) (continue it with --resume "
            f"{summary['run_dir']})",
            file=sys.stderr,
        )
        return 1
    return 0 if summary["status"] == "ok" else 130
