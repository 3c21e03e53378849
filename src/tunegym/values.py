"""Values every room shares: the action type and the one test for a usable number."""

from __future__ import annotations

import math
import numbers
from typing import Any

Action = dict[str, Any]
"""One point of a search space: ``{dimension name: value}``."""


def is_finite_number(value: object) -> bool:
    """A real number that is neither NaN nor infinite.

    ``bool`` is not a number here (``True`` is a categorical value, not 1.0); NumPy's
    scalars are (they register as :class:`numbers.Real`).
    """
    if value.__class__ is float:  # the common case, without the ABC check
        return math.isfinite(value)
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
