"""Analysis of trial rows: the best row, robust ranking under env params, the Pareto
front, groupings for plots, and :class:`~tunegym.analysis.results.JobResults`."""
