"""The rule of the ``auto`` agent: which search method fits a job, and why.

The rule reads only what is known before the first trial: the space (dimension types,
dimension count), the budget (``max_steps``), the number of objectives and whether a
repeated measurement gives the same result. It comes from measurements on COCO's
``bbob`` and ``bbob-mixint`` suites (``benchmarks/bench_bbob.py``) and on tunegym's own
landscapes (``benchmarks/bench_search.py``); figures in ``benchmarks/RESULTS.md``:

* only float ranges, one objective, results that repeat: Nevergrad's NGOpt (best on
  ``bbob`` at d = 2, 5 and 10 from 20 to 100 evaluations) when ``nevergrad`` is installed
  (``pip install 'tunegym[search]'``);
* anything else (an integer or categorical dimension, conditional params, several
  objectives, results that vary, or no nevergrad): Optuna's GP for the first
  ``GP_TRIALS`` trials, then Optuna TPE on the same study (so TPE learns from every GP
  trial). GP is best on ``bbob-mixint`` up to 50 evaluations and TPE after (NGOpt
  trails there), and GP needs the fewest trials on tunegym's categorical, mixed, noisy,
  env-param and multi-objective landscapes; TPE takes over where GP's ask time (it grows
  with the trials) would dominate. Without torch (GP needs it; the base install has none)
  TPE runs from the start.

Pure and cheap: ``tunegym verify`` prints the same choice the run makes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from tunegym.space import Categorical, SearchSpace

#: GP proposes the first this many trials of a GP-then-TPE job.
GP_TRIALS = 60

METHODS = ("ngopt", "gp", "tpe")


@dataclass(frozen=True)
class AutoChoice:
    """The method ``auto`` runs and why (shown by ``tunegym verify`` and in summary.json)."""

    method: str
    """ngopt (Nevergrad's NGOpt), or gp / tpe (Optuna samplers)."""
    reason: str
    then: str | None = None
    """The method that takes over after ``switch_after`` trials (same study), if any."""
    switch_after: int | None = None

    def as_dict(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {"method": self.method, "reason": self.reason}
        if self.then is not None and self.switch_after is not None:
            out["then"] = self.then
            out["switch_after"] = self.switch_after
        return out

    @property
    def plan(self) -> str:
        """The method, and what follows it: ``gp, then tpe after 60 trials``."""
        if self.then is None:
            return self.method
        return f"{self.method}, then {self.then} after {self.switch_after} trials"

    def __str__(self) -> str:
        return f"{self.plan} ({self.reason})"


def nevergrad_available() -> bool:
    """Whether ``nevergrad`` can be imported (found without importing it)."""
    return importlib.util.find_spec("nevergrad") is not None


def torch_available() -> bool:
    """Whether ``torch`` (which Optuna's GP sampler needs) can be imported, found without
    importing it: it is not a dependency of tunegym's base install."""
    return importlib.util.find_spec("torch") is not None


def choose(
    space: SearchSpace,
    max_steps: int,
    *,
    n_objectives: int = 1,
    deterministic: bool = True,
    has_nevergrad: bool | None = None,
    has_torch: bool | None = None,
) -> AutoChoice:
    """The method for a job (see the module docs for the rule)."""
    dims = list(space.dimensions.values())
    n = len(dims)
    categorical = sum(isinstance(d, Categorical) for d in dims)
    integer = sum(not isinstance(d, Categorical) and d.dtype == "int" for d in dims)
    why: str | None = None
    if n_objectives > 1:
        why = f"{n_objectives} objectives"
    elif categorical:
        why = f"{categorical} of {n} dimension(s) categorical"
    elif integer:
        why = f"{integer} of {n} dimension(s) integer"
    elif space.is_conditional:
        why = "conditional params ([when]), which Optuna samples define-by-run"
    elif not deterministic:
        why = "results vary between measurements (env params or cache off)"
    elif not (nevergrad_available() if has_nevergrad is None else has_nevergrad):
        why = "nevergrad is not installed (pip install 'tunegym[search]' for NGOpt)"
    if why is None:
        return AutoChoice("ngopt", f"{n} float dimension(s), one objective: Nevergrad NGOpt")
    if not (torch_available() if has_torch is None else has_torch):
        return AutoChoice("tpe", f"{why}; Optuna GP needs torch, which is not installed: TPE")
    if max_steps <= GP_TRIALS:
        return AutoChoice("gp", f"{why}; max_steps {max_steps} <= {GP_TRIALS}: Optuna GP")
    return AutoChoice(
        "gp",
        f"{why}; Optuna GP for the first {GP_TRIALS} trials, then TPE (its asks stay fast)",
        then="tpe",
        switch_after=GP_TRIALS,
    )


__all__ = ["GP_TRIALS", "METHODS", "AutoChoice", "choose", "nevergrad_available", "torch_available"]


def overplanned(method: str, max_steps: int) -> bool:
    """Whether ``method`` picks its algorithm from the budget (NGOpt does) and was told more
    than the default ``max_steps``: a time budget may end the job long before, with the
    algorithm meant for many more trials (``benchmarks/bench_ngopt_budget.py``)."""
    from tunegym.agents.registry import DEFAULT_MAX_STEPS

    return method == "ngopt" and max_steps > DEFAULT_MAX_STEPS
