"""Logistic regression trained by minibatch SGD with NumPy, on generated data.

Each epoch prints ``epoch <n> val_loss=<v>`` (validation log-loss), which is what the
pruner reads while the trial runs; the last line is ``final val_loss=<v>``. The data set
is generated from a fixed seed (20 features, 3 of them noise, 10% of labels flipped), so
every trial sees the same problem; ``--seed`` only shuffles the minibatches.

    python train.py --lr 0.05 --batch_size 64 --l2 1e-4 --epochs 20
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def make_data(n: int = 40000, d: int = 20) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    w_true = rng.normal(size=d) * (np.arange(d) < d - 3)
    y = (x @ w_true + 0.5 * rng.normal(size=n) > 0).astype(float)
    flip = rng.random(n) < 0.1
    y[flip] = 1.0 - y[flip]
    cut = int(0.75 * n)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def log_loss(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> float:
    z = np.clip(x @ w + b, -30, 30)
    p = 1.0 / (1.0 + np.exp(-z))
    eps = 1e-12
    return float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--batch_size", type=int, required=True)
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x_train, y_train, x_val, y_val = make_data()
    rng = np.random.default_rng(args.seed)
    w = np.zeros(x_train.shape[1])
    b = 0.0
    loss = log_loss(w, b, x_val, y_val)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(y_train))
        for start in range(0, len(order), args.batch_size):
            idx = order[start : start + args.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w + b, -30, 30)))
            grad = p - yb
            w -= args.lr * (xb.T @ grad / len(idx) + args.l2 * w)
            b -= args.lr * float(grad.mean())
        loss = log_loss(w, b, x_val, y_val)
        if not np.isfinite(loss):
            print("diverged", file=sys.stderr)
            return 1
        print(f"epoch {epoch} val_loss={loss:.6f}", flush=True)
    print(f"final val_loss={loss:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
