"""The whole-number ``kwargs`` of the ``sb3`` agent's algorithms, checked before SB3 sees them.

``[agent.config] kwargs`` go to the algorithm's constructor as they are, and SB3 takes
some values it cannot train with: DQN's ``train_freq = 0`` fails in ``learn()``, PPO's
``n_steps = 1`` when the model is built, A2C's ``n_steps = 0`` at its first update. Such
a workload passed ``tunegym verify`` and ``tunegym run`` exited 2. :func:`kwargs_problems`
is the one check of them: the spec loader runs it (through
:meth:`~tunegym.gym.sb3.SB3Agent.config_problems`, so ``verify`` and ``run`` refuse the
file alike) and so does the agent before it builds the algorithm (options given in
code). Only ``mode = "train"`` builds one: ``evaluate`` loads a saved model and ignores
``kwargs``.

A name the algorithm's constructor does not take (a typo, another algorithm's option) or
one the agent sets itself (``seed``, ``device``, ``policy_kwargs`` ...) is refused the same
way, with the option to use instead; the names are stable-baselines3 2.9's
(:data:`CONSTRUCTOR_OPTIONS`), and a name a newer installed SB3 takes is accepted.

TOML has no tuples: :func:`algorithm_kwargs` turns SB3's ``train_freq = (n, "episode")``,
written ``[n, "episode"]``, into the tuple SB3 wants.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeGuard

from tunegym.spec.errors import show_value
from tunegym.spec.suggest import unknown_key_hint

Problem = tuple[tuple[str | int, ...], str]
"""``(field path under [agent], message)``, as :meth:`BaseAgent.config_problems` gives."""

WHOLE_NUMBERS: dict[str, dict[str, int | None]] = {
    "PPO": {"n_steps": 2, "batch_size": 2, "n_epochs": 1},
    "A2C": {"n_steps": 1},
    "DQN": {"train_freq": 1, "batch_size": 1, "gradient_steps": None, "buffer_size": None},
}
"""Per algorithm, the ``kwargs`` that must be whole numbers, each with its lowest value
(``None``: any; DQN's ``gradient_steps = -1`` means one per step collected). PPO's 2s
are 1 with ``normalize_advantage = false`` (SB3 normalises over a minibatch)."""

_TRAIN_FREQ_UNITS = ("step", "episode")

SET_BY_THE_AGENT: dict[str, str] = {
    "policy": "agent.config.policy",
    "env": "the job's env, which the agent wraps",
    "seed": "agent.seed",
    "device": "agent.config.device",
    "verbose": "agent.config.verbose",
    "policy_kwargs": "agent.config.policy_kwargs",
}
"""The constructor arguments the agent passes itself, and where each is set instead."""

_COMMON = frozenset(
    {
        "learning_rate", "gamma", "max_grad_norm", "tensorboard_log", "stats_window_size",
    }
)  # fmt: skip
_ON_POLICY = _COMMON | {
    "n_steps", "gae_lambda", "ent_coef", "vf_coef", "use_sde", "sde_sample_freq",
    "normalize_advantage", "rollout_buffer_class", "rollout_buffer_kwargs",
}  # fmt: skip
CONSTRUCTOR_OPTIONS: dict[str, frozenset[str]] = {
    "PPO": _ON_POLICY | {"batch_size", "n_epochs", "clip_range", "clip_range_vf", "target_kl"},
    "A2C": _ON_POLICY | {"rms_prop_eps", "use_rms_prop"},
    "DQN": _COMMON | {
        "buffer_size", "learning_starts", "batch_size", "tau", "train_freq", "gradient_steps",
        "replay_buffer_class", "replay_buffer_kwargs", "optimize_memory_usage", "n_steps",
        "target_update_interval", "exploration_fraction", "exploration_initial_eps",
        "exploration_final_eps",
    },
}  # fmt: skip
"""Per algorithm, the constructor options ``kwargs`` may hold (stable-baselines3 2.9,
without the ones the agent sets: :data:`SET_BY_THE_AGENT`)."""


def _is_whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _lowest(algorithm: str, name: str, kwargs: Mapping[str, Any]) -> int | None:
    low = WHOLE_NUMBERS[algorithm][name]
    if algorithm == "PPO" and low == 2 and kwargs.get("normalize_advantage", True) is False:
        return 1
    return low


def _problem(algorithm: str, name: str, value: object, kwargs: Mapping[str, Any]) -> str | None:
    """Why ``value`` of ``kwargs[name]`` cannot train ``algorithm`` (``None``: it can)."""
    low = _lowest(algorithm, name, kwargs)
    if name == "train_freq" and isinstance(value, list):  # SB3's (n, unit), in TOML
        n, unit = value if len(value) == 2 else (None, None)
        if _is_whole(n) and n >= 1 and unit in _TRAIN_FREQ_UNITS:
            return None
        return (
            f'must be a whole number >= 1, or [n, "step"] or [n, "episode"] with n >= 1, '
            f"got {show_value(value)}"
        )
    if _is_whole(value) and (low is None or value >= low):
        return None
    bound = "a whole number" if low is None else f"a whole number >= {low}"
    why = ""
    if algorithm == "PPO" and low == 2:
        why = ", which normalises advantages over it (1 with normalize_advantage = false)"
    return f"must be {bound} for {algorithm}{why}, got {show_value(value)}"


def kwargs_problems(algorithm: str, mode: str, kwargs: Mapping[str, Any]) -> list[Problem]:
    """What in ``kwargs`` ``algorithm`` cannot train with (empty: nothing it can tell),
    as ``(("config", "kwargs", name), message)``; nothing for ``mode = "evaluate"``."""
    if mode != "train":
        return []
    problems: list[Problem] = [
        (("config", "kwargs", name), message)
        for name in kwargs
        if (message := _name_problem(algorithm, str(name))) is not None
    ]
    for name in WHOLE_NUMBERS.get(algorithm, {}):
        if name in kwargs:
            message = _problem(algorithm, name, kwargs[name], kwargs)
            if message is not None:
                problems.append((("config", "kwargs", name), message))
    return problems


def _name_problem(algorithm: str, name: str) -> str | None:
    """Why ``algorithm``'s constructor cannot take ``kwargs[name]`` (``None``: it can)."""
    if name in SET_BY_THE_AGENT:
        return f"set by the sb3 agent itself; use {SET_BY_THE_AGENT[name]}"
    known = CONSTRUCTOR_OPTIONS.get(algorithm)
    if known is None or name in known or name in _installed_options(algorithm):
        return None
    hint = unknown_key_hint(name, sorted(known))
    others = [a for a, names in CONSTRUCTOR_OPTIONS.items() if name in names]
    if others:
        hint = f"{'/'.join(others)} takes it, not {algorithm}"
    return f"{algorithm} takes no option {name!r}" + (f"; {hint}" if hint else "")


@cache
def _installed_options(algorithm: str) -> frozenset[str]:
    """Every option the installed SB3's ``algorithm`` takes (empty when SB3 is not
    installed). Asked only for a name 2.9 does not know: importing SB3 brings torch."""
    if importlib.util.find_spec("stable_baselines3") is None:
        return frozenset()
    import stable_baselines3

    parameters = inspect.signature(getattr(stable_baselines3, algorithm).__init__).parameters
    return frozenset(n for n in parameters if not n.startswith("_") and n != "self")


def algorithm_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` as SB3's constructor takes them: ``train_freq = [n, unit]`` a tuple."""
    out = dict(kwargs)
    if isinstance(out.get("train_freq"), list):
        out["train_freq"] = tuple(out["train_freq"])
    return out
