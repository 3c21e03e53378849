"""Real learning curves for ``bench_pruning_sim.py --workload mlp`` (issue 16).

A one-hidden-layer NumPy MLP (10 inputs, 32 tanh units) trained by minibatch SGD for
``EPOCHS`` epochs on a generated problem (a random two-layer teacher network, 10% of
labels flipped; 4000 training rows, 1000 validation rows), tuned over the space of
``examples/sgd-pruning``: learning rate (log), batch size (16-256) and L2 (log). Its curve
is the validation log-loss after each epoch, computed by really training the model, so
nothing about its shape is designed: slow learning rates start behind, large ones
plateau or overshoot, and little regularisation overfits late. A diverged run's loss is
``DIVERGED``.

What a trial costs is modelled, not timed (timings would make the figures depend on the
machine and its load): ``step_s`` per minibatch step plus ``eval_s`` per epoch, so a
small batch costs more per epoch, as it does on real hardware.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import numpy as np

EPOCHS = 20
BATCH_SIZES = (16, 32, 64, 128, 256)
TRAIN_ROWS = 4000
DIVERGED = 10.0


@lru_cache(maxsize=1)
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(TRAIN_ROWS + 1000, 10))
    hidden = rng.normal(size=(10, 8))
    out = rng.normal(size=8)
    y = (np.tanh(x @ hidden) @ out + 0.3 * rng.normal(size=len(x)) > 0).astype(float)
    flip = rng.random(len(y)) < 0.1
    y[flip] = 1.0 - y[flip]
    return x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:], y[TRAIN_ROWS:]


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    eps = 1e-12
    return float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))


def _forward(
    x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float
) -> tuple[np.ndarray, np.ndarray]:
    h = np.tanh(x @ w1 + b1)
    return h, 1.0 / (1.0 + np.exp(-np.clip(h @ w2 + b2, -30, 30)))


@cache
def curve(lr: float, batch_size: int, l2: float, seed: int) -> tuple[float, ...]:
    """The validation loss after each epoch of training (lr, batch_size, l2); ``seed``
    sets the initial weights and the minibatch order (a job's seed, as in bench_pruning)."""
    x_train, y_train, x_val, y_val = _data()
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(10, 32)) / math.sqrt(10)
    b1 = np.zeros(32)
    w2 = rng.normal(size=32) / math.sqrt(32)
    b2 = 0.0
    losses: list[float] = []
    with np.errstate(all="ignore"):
        for _ in range(EPOCHS):
            order = rng.permutation(TRAIN_ROWS)
            for start in range(0, TRAIN_ROWS, batch_size):
                rows = order[start : start + batch_size]
                xb, yb = x_train[rows], y_train[rows]
                h, p = _forward(xb, w1, b1, w2, b2)
                g = (p - yb) / len(rows)
                gh = np.outer(g, w2) * (1.0 - h * h)
                w2 = w2 - lr * (h.T @ g + l2 * w2)
                b2 = b2 - lr * float(g.sum())
                w1 = w1 - lr * (xb.T @ gh + l2 * w1)
                b1 = b1 - lr * gh.sum(axis=0)
            loss = _log_loss(_forward(x_val, w1, b1, w2, b2)[1], y_val)
            losses.append(loss if math.isfinite(loss) else DIVERGED)
    return tuple(losses)


def epoch_cost(batch_size: int, step_s: float, eval_s: float) -> float:
    """Seconds one epoch takes at ``batch_size``: its minibatch steps and an evaluation."""
    return math.ceil(TRAIN_ROWS / batch_size) * step_s + eval_s
