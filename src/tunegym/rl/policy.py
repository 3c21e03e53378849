"""The policy: a tiny autoregressive model over answer tokens (PyTorch, CPU).

Each step's logits come from an MLP over the sum of embeddings of the two operands, the
position and the previous token. Training (:func:`grpo_loss`) uses torch; sampling
(:func:`generate`) runs the same forward pass in numpy, so collectors never import torch.
Weights travel between processes as a ``{name: numpy array}`` dict (:func:`get_weights` /
:func:`set_weights`). torch is imported only here and only when a function is called, so
``import tunegym.rl`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tunegym.rl.task import EOS, VOCAB

Weights = dict[str, np.ndarray]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the rl extra installs it
        raise ImportError("tunegym.rl needs torch: pip install 'tunegym[rl]'") from exc
    return torch


def build_policy(max_operand: int, max_tokens: int, hidden: int = 64, seed: int = 0) -> Any:
    """A fresh policy (a ``torch.nn.Module``) with weights drawn from ``seed``."""
    torch = _torch()
    nn = torch.nn

    class TinyPolicy(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.max_tokens = max_tokens
            self.emb_a = nn.Embedding(max_operand + 1, hidden)
            self.emb_b = nn.Embedding(max_operand + 1, hidden)
            self.emb_pos = nn.Embedding(max_tokens, hidden)
            self.emb_prev = nn.Embedding(VOCAB + 1, hidden)  # VOCAB: the start token
            self.head = nn.Sequential(
                nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, VOCAB)
            )

        def forward(self, a: Any, b: Any, prev: Any, pos: Any) -> Any:
            x = self.emb_a(a) + self.emb_b(b) + self.emb_pos(pos) + self.emb_prev(prev)
            return self.head(x)

    torch.manual_seed(seed)
    return TinyPolicy()


def get_weights(model: Any) -> Weights:
    """The model's parameters as numpy arrays (copies)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def set_weights(model: Any, weights: Weights) -> None:
    """Load ``weights`` (from :func:`get_weights`) into ``model``."""
    torch = _torch()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})


def generate(
    weights: Weights,
    a: np.ndarray,
    b: np.ndarray,
    max_tokens: int,
    rng: np.random.Generator,
    on_step: Callable[[], object] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample one response per row; returns ``(tokens, mask, logp)``, each ``[n, max_tokens]``.

    Runs the policy's forward pass in numpy from its weights (:func:`get_weights`), so a
    collector needs no torch. ``mask`` is 1 for the tokens that belong to the response (up
    to and including the end token), ``logp`` the sampling policy's log-probability of
    each token. ``on_step`` is called after each decoding step (the collectors'
    per-token latency hook).
    """
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    n = len(a)
    base = w["emb_a.weight"][a] + w["emb_b.weight"][b]
    prev = np.full(n, VOCAB, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    tokens = np.zeros((n, max_tokens), dtype=np.int64)
    mask = np.zeros((n, max_tokens), dtype=np.float32)
    logp = np.zeros((n, max_tokens), dtype=np.float32)
    rows = np.arange(n)
    for t in range(max_tokens):
        x = np.tanh(base + w["emb_pos.weight"][t] + w["emb_prev.weight"][prev])
        x = np.tanh(x @ w["head.1.weight"].T + w["head.1.bias"])
        logits = x @ w["head.3.weight"].T + w["head.3.bias"]
        logits -= logits.max(1, keepdims=True)
        logp_all = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        cdf = np.cumsum(np.exp(logp_all), 1)
        tok = np.minimum((cdf < rng.random(n)[:, None] * cdf[:, -1:]).sum(1), VOCAB - 1)
        tokens[:, t] = tok
        mask[:, t] = alive
        logp[:, t] = logp_all[rows, tok]
        alive &= tok != EOS
        prev = tok
        if on_step is not None:
            on_step()
    return tokens, mask, logp


def grpo_loss(model: Any, batch: dict[str, np.ndarray], clip: float) -> tuple[Any, float]:
    """The clipped GRPO surrogate summed over response tokens, and the token count.

    ``batch`` holds ``a``, ``b``, ``tokens``, ``mask``, ``logp`` (the sampling policy's)
    and ``advantage`` (one per sample, group-normalised). The ratio against ``logp`` is
    what makes a stale sample's gradient an importance-weighted one.
    """
    torch = _torch()
    tokens = torch.as_tensor(np.array(batch["tokens"]), dtype=torch.long)
    n, steps = tokens.shape
    mask = torch.as_tensor(np.array(batch["mask"]), dtype=torch.float32)
    old = torch.as_tensor(np.array(batch["logp"]), dtype=torch.float32)
    adv = torch.as_tensor(np.array(batch["advantage"]), dtype=torch.float32)[:, None]
    a = torch.as_tensor(np.array(batch["a"]), dtype=torch.long)[:, None].expand(n, steps)
    b = torch.as_tensor(np.array(batch["b"]), dtype=torch.long)[:, None].expand(n, steps)
    prev = torch.cat([torch.full((n, 1), VOCAB, dtype=torch.long), tokens[:, :-1]], 1)
    pos = torch.arange(steps)[None].expand(n, steps)
    logp = torch.log_softmax(model(a, b, prev, pos), -1).gather(-1, tokens[..., None])[..., 0]
    ratio = torch.exp(logp - old)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    return -(surrogate * mask).sum(), float(mask.sum())
