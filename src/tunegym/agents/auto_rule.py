"""The rule of the ``auto`` agent: which search method fits a job, and why.

The rule reads only what is known before the first trial: the space (dimension types,
dimension count), the budget (``max_steps``), the number of objectives and whether a
repeated measurement gives the same result. It comes from measurements on COCO's
``bbob`` and ``bbob-mixint`` suites (``benchmarks/bench_bbob.py``, figures in
``benchmarks/RESULTS.md``) and on tunegym's own landscapes (``benchmarks/bench_search.py``):

* several objectives, a categorical dimension, integer dimensions or noisy results: Optuna
  TPE (best on ``bbob-mixint`` and on the categorical landscapes, robust to noise);
* only float ranges and a small budget for the dimension count (``max_steps <= GP_STEPS_PER_DIM
  * d`` and at most ``GP_MAX_STEPS``): Optuna's GP (its model wins when every trial counts,
  and its ask time stays small at that many trials);
* only float ranges and a larger budget: Nevergrad's NGOpt when ``nevergrad`` is installed
  (``pip install 'tunegym[search]'``), else Optuna CMA-ES.

Pure and cheap: ``tunegym verify`` prints the same choice the run makes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from tunegym.space import Categorical, SearchSpace

#: GP while the budget is at most this many trials per dimension ...
GP_STEPS_PER_DIM = 25
#: ... and at most this many trials in all (its ask time grows with the trials).
GP_MAX_STEPS = 60

METHODS = ("tpe", "gp", "cmaes", "ngopt")


@dataclass(frozen=True)
class AutoChoice:
    """The method ``auto`` runs and why (shown by ``tunegym verify`` and in summary.json)."""

    method: str
    """tpe | gp | cmaes (Optuna samplers) or ngopt (Nevergrad's NGOpt)."""
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"method": self.method, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.method} ({self.reason})"


def nevergrad_available() -> bool:
    """Whether ``nevergrad`` can be imported (found without importing it)."""
    return importlib.util.find_spec("nevergrad") is not None


def choose(
    space: SearchSpace,
    max_steps: int,
    *,
    n_objectives: int = 1,
    deterministic: bool = True,
    has_nevergrad: bool | None = None,
) -> AutoChoice:
    """The method for a job (see the module docs for the rule)."""
    dims = list(space.dimensions.values())
    n = len(dims)
    categorical = sum(isinstance(d, Categorical) for d in dims)
    integer = sum(not isinstance(d, Categorical) and d.dtype == "int" for d in dims)
    if n_objectives > 1:
        return AutoChoice("tpe", f"{n_objectives} objectives: Optuna TPE (multi-objective)")
    if categorical:
        return AutoChoice(
            "tpe", f"{categorical} of {n} dimension(s) categorical: Optuna TPE models them"
        )
    if integer:
        return AutoChoice(
            "tpe", f"{integer} of {n} dimension(s) integer: Optuna TPE (best on mixed integers)"
        )
    if not deterministic:
        return AutoChoice(
            "tpe", "results vary between measurements (no cache or env params): Optuna TPE"
        )
    gp_cap = min(GP_MAX_STEPS, GP_STEPS_PER_DIM * n)
    if max_steps <= gp_cap:
        return AutoChoice(
            "gp",
            f"{n} float dimension(s), max_steps {max_steps} <= {gp_cap}: Optuna GP "
            "(a model spends few trials best)",
        )
    available = nevergrad_available() if has_nevergrad is None else has_nevergrad
    if available:
        return AutoChoice(
            "ngopt", f"{n} float dimension(s), max_steps {max_steps} > {gp_cap}: Nevergrad NGOpt"
        )
    return AutoChoice(
        "cmaes",
        f"{n} float dimension(s), max_steps {max_steps} > {gp_cap}: Optuna CMA-ES "
        "(install tunegym[search] for Nevergrad NGOpt)",
    )


__all__ = ["GP_MAX_STEPS", "GP_STEPS_PER_DIM", "METHODS", "AutoChoice", "choose"]
