"""``sb3``: train (or evaluate) a Stable-Baselines3 policy on any tunegym env.

Needs the ``rl`` extra (``stable-baselines3`` and ``torch``), imported only when the
agent runs, so ``tunegym verify`` and ``tunegym list agents`` work without them.

Instead of proposing one action at a time, the agent overrides :meth:`run` and hands the
env to SB3 through :class:`~tunegym.gym.GymnasiumAdapter` (flattened: ``MultiDiscrete`` or
``Box`` actions, and ``Discrete`` for DQN; one ``Box`` observation with the env params as
one-hot context). Every SB3 step is a trial of the job, so the job's ``max_steps`` caps
training exactly, and each trial's feedback lands in ``history`` like any agent's.

``[agent.config]``::

    algorithm = "PPO"            # PPO | A2C | DQN
    mode = "train"               # train | evaluate
    total_timesteps = 20000      # train: SB3 steps (default and cap: the job's max_steps)
    policy = "MlpPolicy"
    policy_kwargs = { net_arch = [32, 32], activation_fn = "tanh" }
    kwargs = { n_steps = 512, learning_rate = 3e-4 }   # the algorithm's constructor
    save = "model.zip"           # train: written in the job folder ("" to skip)
    model = "runs/.../model.zip" # evaluate: the saved model (relative: to the workload)
    deterministic = true         # evaluate: greedy actions
    torch_threads = 1
    device = "cpu"               # auto | cpu | cuda | cuda:N | mps
    flatten = "auto"             # auto | true | "discrete": the action space SB3 sees

``flatten``: ``true`` gives one ``MultiDiscrete`` (every dimension a list) or one ``Box``
(every dimension a range); ``"discrete"`` one ``Discrete`` over every action (lists and
int ranges only; DQN needs it); ``"auto"`` picks ``"discrete"`` for DQN or for a space
that mixes lists with int ranges (up to :data:`AUTO_DISCRETE_MAX` actions), else ``true``.
A space that mixes lists with float ranges cannot be given to SB3: ``tunegym verify``
says so (make the ranges lists or int ranges, or use another agent). So does a
whole-number ``kwargs`` entry the algorithm cannot train with (DQN's ``train_freq = 0``;
see :mod:`tunegym.gym.sb3_kwargs`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunegym.agents.base import Action, AgentConfig, BaseAgent
from tunegym.env.base import BaseGym
from tunegym.errors import SpecError, TunegymError
from tunegym.gym.sb3_kwargs import algorithm_kwargs, kwargs_problems
from tunegym.layout import JOB_FILE_NAMES
from tunegym.space import Categorical, SearchSpace
from tunegym.spec.errors import format_loc

ALGORITHMS = ("PPO", "A2C", "DQN")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,3})?")
"""The devices SB3 places a policy on (``auto``: a GPU when there is one, else the CPU)."""
AUTO_DISCRETE_MAX = 10_000
"""Largest mixed space ``flatten = "auto"`` turns into one ``Discrete`` (one policy output
per action)."""
_ACTIVATIONS = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
}


class SB3Options(BaseModel):
    """``[agent.config]`` of the ``sb3`` agent."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["PPO", "A2C", "DQN"] = "PPO"
    mode: Literal["train", "evaluate"] = "train"
    total_timesteps: int | None = Field(default=None, ge=1)
    policy: str = "MlpPolicy"
    policy_kwargs: dict[str, Any] = Field(default_factory=dict)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    save: str = "model.zip"
    model: str | None = None
    deterministic: bool = True
    torch_threads: int = Field(default=1, ge=1)
    device: str = "cpu"
    verbose: int = Field(default=0, ge=0, le=2)
    flatten: Literal["auto", "discrete", True, False] = "auto"
    """The action space SB3 sees: ``auto``, ``true`` (MultiDiscrete or Box) or
    ``"discrete"`` (one Discrete over every action); see the module docstring."""

    @field_validator("save")
    @classmethod
    def _save(cls, value: str) -> str:
        """A file in the job folder; SB3 adds ``.zip`` to a name without a suffix, and
        so does this, so that the agent's ``model_path`` is the file SB3 writes."""
        if not value:
            return value
        path = PurePosixPath(value)
        outside = path.is_absolute() or ".." in path.parts
        if outside or value.endswith("/") or path.name in {"", "."}:
            raise ValueError(
                "save must be a file name in the job folder (such as 'model.zip'), "
                f"or '' to save nothing; got {value!r}"
            )
        if path.parts[0].isdigit() or value in JOB_FILE_NAMES:
            raise ValueError(
                f"save {value!r} would overwrite the job's own files; use another name"
            )
        return value if path.suffix else f"{value}.zip"

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.fullmatch(value):
            raise ValueError(
                f"unknown device {value!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
            )
        return value

    @field_validator("flatten")
    @classmethod
    def _flat(cls, value: Literal["auto", "discrete", True, False]) -> Any:
        if value is False:
            raise ValueError(
                "flatten = false gives a Dict action space, which SB3 policies cannot train "
                'on; use "auto", true or "discrete"'
            )
        return value

    @model_validator(mode="after")
    def _evaluate_needs_model(self) -> SB3Options:
        if self.algorithm == "DQN" and self.flatten is True:
            raise ValueError('DQN needs one Discrete action: use flatten = "discrete" or "auto"')
        if self.mode == "evaluate" and not self.model:
            raise ValueError('mode = "evaluate" needs model = "path/to/model.zip"')
        if self.policy_kwargs.get("activation_fn") is not None:
            name = self.policy_kwargs["activation_fn"]
            if not isinstance(name, str) or name.lower() not in _ACTIVATIONS:
                raise ValueError(
                    f"policy_kwargs.activation_fn: unknown activation {name!r}; "
                    f"known: {', '.join(_ACTIVATIONS)}"
                )
        return self


def resolve_flatten(options: SB3Options, space: SearchSpace) -> bool | str:
    """The adapter's ``flatten`` for ``options`` on ``space``; ``ValueError`` saying what to
    change when SB3 cannot be given this space."""
    exposed = [
        d for d in space.dimensions.values() if not (isinstance(d, Categorical) and d.size == 1)
    ]
    lists = [d.name for d in exposed if isinstance(d, Categorical)]
    ranges = [d.name for d in exposed if not isinstance(d, Categorical)]
    floats = [d.name for d in exposed if d.size is None]
    mixed = bool(lists and ranges)
    wanted = options.flatten
    if wanted == "auto":
        if options.algorithm == "DQN":
            wanted = "discrete"
        elif mixed:
            if floats:
                raise ValueError(
                    f"sb3 cannot take a space that mixes lists ({', '.join(lists)}) with float "
                    f"ranges ({', '.join(floats)}): make the float ranges lists or "
                    'dtype = "int" ranges (then flatten = "discrete" is used), or choose '
                    "another agent (optuna, random)"
                )
            size = space.size or 0
            if size > AUTO_DISCRETE_MAX:
                raise ValueError(
                    f"this space mixes lists ({', '.join(lists)}) with int ranges "
                    f"({', '.join(ranges)}); as one Discrete space it has {size} actions, more "
                    f'than flatten = "auto" allows ({AUTO_DISCRETE_MAX}): set flatten = '
                    '"discrete" to accept it, or make the ranges lists'
                )
            wanted = "discrete"
        else:
            wanted = True
    if wanted == "discrete" and floats:
        why = " (DQN needs a Discrete action space)" if options.algorithm == "DQN" else ""
        raise ValueError(
            f'flatten = "discrete" needs lists and int ranges only; {", ".join(floats)} '
            f"is a float range{why}"
        )
    if wanted is True and mixed:
        raise ValueError(
            f"flatten = true needs every dimension a list or every one a range, but lists "
            f"({', '.join(lists)}) are mixed with ranges ({', '.join(ranges)})"
            + ('; use flatten = "discrete"' if not floats else "; make the ranges lists")
        )
    return wanted


class SB3Agent(BaseAgent):
    """PPO, A2C or DQN from Stable-Baselines3, trained (or evaluated) through the adapter."""

    name = "sb3"
    supports_env_params = True
    resumes_exactly = False  # a resumed run trains a fresh policy for the missing steps
    trains_policy = True
    Config: ClassVar[type[BaseModel]] = SB3Options

    @classmethod
    def space_problems(
        cls, options: BaseModel, workload: Any
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems of ``options`` on an offline job's space (checked by the spec loader,
        so ``tunegym verify`` reports them); field paths are under ``[agent]``."""
        space = SearchSpace.from_workload(workload)
        if space.is_empty:
            return []
        try:
            resolve_flatten(options, space)  # type: ignore[arg-type]
        except ValueError as exc:
            return [(("config", "flatten"), str(exc))]
        return []

    @classmethod
    def config_problems(
        cls, options: BaseModel, n_objectives: int
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """``kwargs`` the algorithm cannot train with (see :mod:`tunegym.gym.sb3_kwargs`),
        checked by the spec loader, so ``tunegym verify`` refuses what ``run`` would."""
        assert isinstance(options, SB3Options)
        return kwargs_problems(options.algorithm, options.mode, options.kwargs)

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        self.model: Any = None
        self.model_path: Path | None = None

    def select_action(self, observation: Any) -> Action | None:
        raise NotImplementedError("the sb3 agent drives the env itself: call run()")

    def run(self) -> int:
        """Train for ``min(total_timesteps, max_steps)`` trials, or evaluate a saved model
        for ``max_steps`` trials (a resumed run counts its recorded trials against both).
        Returns 1 when no trial succeeded, else 0."""
        options: SB3Options = self.options
        sb3, torch = _import_rl()
        torch.set_num_threads(options.torch_threads)
        from tunegym.gym.adapter import GymnasiumAdapter

        try:
            flatten: Any = resolve_flatten(options, self.env.action_space)
            adapter = GymnasiumAdapter(self.env, flatten=flatten, flatten_observation=True)
        except ValueError as exc:  # a live server's space, known only now
            raise SpecError(f"agent.config.flatten: {exc}") from None
        algorithm = getattr(sb3, options.algorithm)
        # A resumed run's trials become history (unfinished ones run again) and count
        # against the budget; the agent proposes nothing for them: training starts anew.
        loop = self.trial_loop()
        plan = loop.plan
        _, rerun = loop.replay(plan, {}, propose=False)
        loop.rerun(rerun, {})
        done = len(plan)
        if options.mode == "train":
            cap = min(options.total_timesteps or self.config.max_steps, self.config.max_steps)
            if cap > done:
                self._train(algorithm, adapter, cap - done)
        elif self.config.max_steps > done:
            self._evaluate(algorithm, adapter, self.config.max_steps - done)
        return self.exit_code()

    # -- modes ---------------------------------------------------------------------------
    def _train(self, algorithm: Any, adapter: Any, budget: int) -> None:
        options: SB3Options = self.options
        problems = kwargs_problems(options.algorithm, options.mode, options.kwargs)
        if problems:  # options given in code: a workload's were refused when it loaded
            (loc, message), *_ = problems
            raise SpecError(f"{format_loc(('agent', *loc))}: {message}")
        try:
            self.model = algorithm(
                options.policy,
                _recording(adapter, self),
                seed=self.config.seed,
                device=options.device,
                verbose=options.verbose,
                policy_kwargs=_policy_kwargs(options.policy_kwargs) or None,
                **algorithm_kwargs(options.kwargs),
            )
        except (TypeError, ValueError, KeyError, AssertionError, RuntimeError) as exc:
            # RuntimeError: a device torch knows but this machine lacks ('mps', 'cuda:7')
            raise SpecError(
                f"agent.config: cannot build {options.algorithm} "
                f"(policy {options.policy!r}, kwargs {options.kwargs}, device "
                f"{options.device!r}): {exc}"
            ) from exc
        callback = _budget_callback(self, len(self.history) + budget)
        try:
            self.model.learn(total_timesteps=budget, callback=callback)
        except Exception as exc:
            if isinstance(exc, TunegymError) or _from_env(exc):
                raise  # the env's (a trial store, a live server): already worded
            raise SpecError(
                f"agent.config: {options.algorithm} cannot train with kwargs "
                f"{options.kwargs} ({type(exc).__name__}: {exc})"
            ) from exc
        folder = self.config.folder
        if options.save and folder is not None:
            self.model_path = folder / options.save
            self.model.save(self.model_path)

    def _evaluate(self, algorithm: Any, adapter: Any, steps: int) -> None:
        options: SB3Options = self.options
        path = _model_path(self.config.base_dir, str(options.model))
        try:
            self.model = algorithm.load(path, env=adapter, device=options.device)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise SpecError(
                f"agent.config.model: {path} is not a {options.algorithm} model for this env: {exc}"
            ) from exc
        self.model_path = path
        observation, _ = adapter.reset(seed=self.config.seed)
        for _ in range(steps):
            action, _ = self.model.predict(observation, deterministic=options.deterministic)
            observation, _, terminated, truncated, info = adapter.step(action)
            self.learn(info["feedback"])
            if terminated or truncated:
                observation, _ = adapter.reset()


def _import_rl() -> tuple[Any, Any]:
    try:
        import stable_baselines3
        import torch
    except ImportError as exc:
        raise TunegymError(
            f"agent 'sb3' needs stable-baselines3 and torch (pip install 'tunegym[rl]'): {exc}"
        ) from exc
    return stable_baselines3, torch


def _policy_kwargs(raw: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(raw)
    name = kwargs.get("activation_fn")
    if isinstance(name, str):
        import torch

        kwargs["activation_fn"] = getattr(torch.nn, _ACTIVATIONS[name.lower()])
    return kwargs


def _recording(adapter: Any, agent: SB3Agent) -> Any:
    """The adapter, recording each step's feedback into ``agent`` and handing SB3 a slim
    ``info`` (its vector env deep-copies every info dict, every step)."""
    import gymnasium as gym

    class Recording(gym.Wrapper):
        def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
            with _marking_env_errors():
                return self.env.reset(**kwargs)

        def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
            with _marking_env_errors():
                observation, reward, terminated, truncated, info = self.env.step(action)
            agent.learn(info["feedback"])
            slim = {"step": info["step"], "status": info["status"]}
            return observation, reward, terminated, truncated, slim

    return Recording(adapter)


_ENV_ERROR = "_tunegym_raised_by_env"


@contextlib.contextmanager
def _marking_env_errors() -> Iterator[None]:
    """Mark an exception the env raised inside SB3's ``learn()``, so it is not taken
    for a failure of the algorithm's settings."""
    try:
        yield
    except Exception as exc:
        with contextlib.suppress(AttributeError):  # an exception type without a __dict__
            setattr(exc, _ENV_ERROR, True)
        raise


def _from_env(exc: BaseException) -> bool:
    return bool(getattr(exc, _ENV_ERROR, False))


def _budget_callback(agent: SB3Agent, budget: int) -> Any:
    """An SB3 callback that stops training once ``agent.history`` holds ``budget`` trials."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Budget(BaseCallback):
        def _on_step(self) -> bool:
            return len(agent.history) < budget

    return Budget()


def _model_path(base_dir: Path | None, model: str) -> Path:
    """``model`` (relative: to the workload's folder, else the current folder)."""
    path = Path(model).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if not path.is_file():
        raise SpecError(f"agent.config.model: no such file: {path}")
    return path
