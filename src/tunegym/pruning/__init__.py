"""Pruning: stop trials whose intermediate values are clearly worse than the others'.

:class:`PruningStudy` keeps every trial's curve in an in-memory Optuna study and asks
the Optuna pruner ``[agent.pruner]`` names whether a running trial should stop;
:func:`report` is the Python API an objective run by ``FunctionEnv`` calls with its
intermediate values (it raises :class:`TrialPruned` when the trial should stop).
``optuna`` is imported when a study is built, never at ``import tunegym``.
"""

from tunegym.pruning.decisions import decision_step, pruned_message, pruned_outcome
from tunegym.pruning.reporting import TrialPruned, report, reporting
from tunegym.pruning.study import PruningStudy, build_pruner

__all__ = [
    "PruningStudy",
    "TrialPruned",
    "build_pruner",
    "decision_step",
    "pruned_message",
    "pruned_outcome",
    "report",
    "reporting",
]
