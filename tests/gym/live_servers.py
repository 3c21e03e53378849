"""GymServers for the live-mode tests (imported by ``server = "live_servers:..."``).

Tests put this folder on ``sys.path`` with ``monkeypatch.syspath_prepend``. Every server
built is kept in ``INSTANCES`` so a test can look at what a run did to it.
"""

from __future__ import annotations

import math
from typing import Any

INSTANCES: list[Any] = []


class EchoServer:
    """``value = x + index(mode)``; records every ``reset`` seed and ``step`` params.

    ``episode_length`` > 0 terminates (or, with ``truncate``, truncates) every that many
    steps. ``reward``: ``"none"`` (tunegym computes it), ``"value"`` or ``"nan"``.
    ``omit`` leaves that metric out of step observations.
    """

    MODES = ("a", "b", "c")

    def __init__(
        self,
        episode_length: int = 0,
        reward: str = "none",
        truncate: bool = False,
        omit: str | None = None,
    ) -> None:
        self.episode_length = episode_length
        self.omit = omit
        self.reward = reward
        self.truncate = truncate
        self.resets: list[int | None] = []
        self.calls: list[dict[str, Any]] = []
        self.t = 0
        self.closed = False
        INSTANCES.append(self)

    def action_space(self) -> dict[str, Any]:
        return {"x": {"low": 0.0, "high": 1.0}, "mode": list(self.MODES), "level": 3}

    def observation_space(self) -> list[str]:
        return ["value", "t"]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, float], dict[str, Any]]:
        self.resets.append(seed)
        self.t = 0
        return {"value": 0.0, "t": 0.0}, {"episode": len(self.resets)}

    def step(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, float], float | None, bool, bool, dict[str, Any]]:
        self.calls.append(dict(params))
        self.t += 1
        value = float(params["x"]) + self.MODES.index(params["mode"])
        reward = {"none": None, "value": value, "nan": math.nan}[self.reward]
        end = self.episode_length > 0 and self.t >= self.episode_length
        terminated, truncated = (False, end) if self.truncate else (end, False)
        observation = {"value": value, "t": float(self.t)}
        observation.pop(self.omit or "", None)
        return observation, reward, terminated, truncated, {"t": self.t}

    def close(self) -> None:
        self.closed = True


class RouteServer:
    """A categorical-only server: ``route`` in 0..2; route 2 pays 1, the others 0."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        INSTANCES.append(self)

    def action_space(self) -> dict[str, Any]:
        return {"route": [0, 1, 2]}

    def observation_space(self) -> list[str]:
        return ["paid"]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return {"paid": 0.0}, {}

    def step(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, float], float | None, bool, bool, dict[str, Any]]:
        paid = 1.0 if params["route"] == 2 else 0.0
        return {"paid": paid}, paid, False, False, {}


class FailingRouteServer(RouteServer):
    """A ``RouteServer`` whose service goes away at its fifth step."""

    def step(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, float], float | None, bool, bool, dict[str, Any]]:
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 5:
            raise ConnectionError("the service went away")
        return super().step(params)


class BoxServer:
    """A continuous-only server: reward ``-(a - 0.5)**2 - (n - 3)**2`` over a float and an int."""

    def action_space(self) -> dict[str, Any]:
        return {"a": {"low": 0.0, "high": 1.0}, "n": {"low": 0, "high": 5, "dtype": "int"}}

    def observation_space(self) -> list[str]:
        return ["loss"]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, float], dict[str, Any]]:
        return {"loss": 0.0}, {}

    def step(
        self, params: dict[str, Any]
    ) -> tuple[dict[str, float], float | None, bool, bool, dict[str, Any]]:
        assert isinstance(params["n"], int)
        loss = (float(params["a"]) - 0.5) ** 2 + (params["n"] - 3) ** 2
        return {"loss": loss}, -loss, False, False, {}


class NoStep:
    """Declares spaces but cannot step: not a GymServer."""

    def action_space(self) -> dict[str, Any]:
        return {"x": [1, 2]}


class BadSpace:
    """Declares an action space whose range is upside down."""

    def __init__(self, space: Any = None) -> None:
        self.space = {"x": {"low": 5, "high": 3}} if space is None else space

    def action_space(self) -> Any:
        return self.space

    def observation_space(self) -> Any:
        return ["m"]

    def reset(self, seed: int | None = None, options: Any = None) -> Any:
        return {"m": 0.0}, {}

    def step(self, params: Any) -> Any:
        return {"m": 0.0}, 0.0, False, False, {}


class NeedsArgs(BadSpace):
    """``rate`` is required; anything else in ``[server_args]`` is not accepted."""

    def __init__(self, rate: float, episode_length: int = 10) -> None:
        super().__init__({"x": [1, 2]})
        self.rate = rate
        self.episode_length = episode_length
        INSTANCES.append(self)


not_a_class = 42
