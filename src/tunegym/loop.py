"""The trial loop: sequential, parallel and resume-replay dispatch, in one place.

An agent is a policy: it proposes (``select_action``, or a batch with
``select_actions``) and learns (``learn``, which keeps the feedback and calls its
``update_policy``). The loop owns everything else, the way Optuna's ask/tell and Ray
Tune's controller keep the loop apart from the searcher:

* **Replay.** A resumed env (:meth:`~tunegym.env.base.TrialEnv.resume`) hands the loop
  its plan: every step the interrupted run handed out, in step order. The policy
  proposes again for each (so a seeded agent's state and random streams move on exactly
  as before; ``propose=False`` skips that for agents that do not propose step by step)
  and learns the recorded feedback; trials that started but never finished run again
  under their own step, ``parallel`` at a time.
* **Sequential** (``parallel = 1``): propose, step, learn; ``done`` resets the env
  (the step counter never moves back).
* **Parallel** (``parallel > 1``): keep up to ``parallel`` trials in flight through the
  env's ``submit``/``wait_ready``/``complete``; learn from each as it finishes. The env
  must be a :class:`~tunegym.env.base.TrialEnv` able to run that many at once; the loop
  refuses anything less with a clear error instead of running fewer at a time.

The budget counts every step of the job, replayed ones included. A time budget
(:class:`~tunegym.budget.TimeBudget`) also stops dispatch once spent: no trial starts
after it, nor one proposed while it ran out (a Gaussian-process ask can take a while);
with a grace period, trials still running that much later are stopped through the env's
``stop_running`` (recorded ``timeout``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tunegym.budget import TimeBudget
from tunegym.env.base import BaseGym, PendingTrial, TrialEnv
from tunegym.errors import UsageError
from tunegym.trial.resume import ReplayItem
from tunegym.trial.rows import Feedback
from tunegym.values import Action

if TYPE_CHECKING:
    from tunegym.runners.base import StopSignal


class Policy(Protocol):
    """What the loop asks of an agent."""

    def select_action(self, observation: Mapping[str, float]) -> Action | None: ...

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]: ...

    def learn(self, feedback: Feedback) -> None: ...


class TrialLoop:
    """Drives ``env`` for ``policy`` for at most ``budget`` steps (see the module docs)."""

    def __init__(
        self,
        env: BaseGym,
        policy: Policy,
        budget: int,
        parallel: int = 1,
        seed: int | None = None,
        time_budget: TimeBudget | None = None,
    ) -> None:
        if parallel < 1:
            raise UsageError(f"parallel must be at least 1, got {parallel}")
        if parallel > 1:
            capacity = env.max_parallel if isinstance(env, TrialEnv) else 1
            if capacity < parallel:
                raise UsageError(
                    f"parallel = {parallel}, but {env.name} runs {capacity} trial(s) at a "
                    f"time{_capacity_hint(env)}"
                )
        self.env = env
        self.policy = policy
        self.budget = budget
        self.parallel = parallel
        self.seed = seed
        self.time_budget = time_budget
        self._budget_stops: list[StopSignal] = []  # sent when the budget's grace was spent

    @property
    def plan(self) -> Sequence[ReplayItem]:
        """The env's replay plan (empty for a new run or an env that keeps no trials)."""
        return self.env.replay_plan if isinstance(self.env, TrialEnv) else ()

    def run(self) -> None:
        """Reset, replay a resumed run's trials, then propose/step/learn up to the budget."""
        observation: Mapping[str, float]
        observation, _ = self.env.reset(seed=self.seed)
        plan = self.plan
        observation, rerun = self.replay(plan, observation)
        remaining = self.budget - len(plan)
        timer = self.arm_grace()
        try:
            if self.parallel > 1:
                self.dispatch_parallel(observation, remaining, rerun)
            else:
                observation = self.rerun(rerun, observation)
                self.dispatch_sequential(observation, remaining)
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()  # a stop under way has sent its signals before we count them
                self._count_budget_stops()

    # -- the time budget -------------------------------------------------------------------
    def out_of_time(self) -> bool:
        """Whether the time budget is spent (then it is marked as having ended the job:
        the caller was about to start a trial)."""
        budget = self.time_budget
        if budget is None or not budget.spent:
            return False
        budget.ended_job = True
        return True

    def arm_grace(self) -> threading.Timer | None:
        """With a grace period: a timer that stops the trials still running once the
        budget and its grace are spent (cancel it when the loop ends)."""
        budget = self.time_budget
        if budget is None or budget.grace_s is None:
            return None
        timer = threading.Timer(budget.remaining() + budget.grace_s, self._stop_in_flight)
        timer.daemon = True
        timer.start()
        return timer

    def _stop_in_flight(self) -> None:
        budget = self.time_budget
        assert budget is not None and budget.grace_s is not None
        reason = (
            f"stopped: the time budget ({budget.seconds:g} s) and its grace period "
            f"({budget.grace_s:g} s) were spent"
        )
        if isinstance(self.env, TrialEnv):
            self._budget_stops.extend(self.env.stop_running("timeout", reason))

    def _count_budget_stops(self) -> None:
        """Count the trials the budget's stops ended, once the trials are over: only then
        does each runner know whether its stop came too late (the trial's own result then
        stands, and it is not counted)."""
        budget = self.time_budget
        landed = sum(stop.landed for stop in self._budget_stops)
        if budget is not None and landed:
            budget.stopped_trials += landed
            budget.ended_job = True

    # -- the pieces (agents that own their loop, such as sb3, reuse them) ----------------
    def replay(
        self,
        plan: Sequence[ReplayItem],
        observation: Mapping[str, float],
        *,
        propose: bool = True,
    ) -> tuple[Mapping[str, float], list[ReplayItem]]:
        """Teach the policy the finished trials of ``plan``, in step order; return the last
        observation and the items that must run again (see the module docs)."""
        env = self.env
        rerun: list[ReplayItem] = []
        for item in plan:
            if propose:
                self.policy.select_action(observation)
            if item.row is None:
                rerun.append(item)
                continue
            assert isinstance(env, TrialEnv)  # only a TrialEnv has a plan
            feedback = env.feedback_of(item.row)
            self.policy.learn(feedback)
            observation = feedback.observation
        return observation, rerun

    def rerun(
        self, items: Sequence[ReplayItem], observation: Mapping[str, float]
    ) -> Mapping[str, float]:
        """Run ``items`` again one after another; return the last observation."""
        for item in items:
            assert isinstance(self.env, TrialEnv)
            if self.out_of_time():
                break
            observation, _, _, info = self.env.complete(self.env.resubmit(item))
            self.learn_from(info)
        return observation

    def learn_from(self, info: Mapping[str, Any]) -> None:
        """Teach the policy a step's result (its ``info["feedback"]``)."""
        self.policy.learn(info["feedback"])

    def dispatch_sequential(self, observation: Mapping[str, float], budget: int) -> None:
        for _ in range(budget):
            if self.out_of_time():
                break
            action = self.policy.select_action(observation)
            if action is None or self.out_of_time():  # a slow proposal can outlast it
                break
            observation, _, done, info = self.env.step(action)
            self.learn_from(info)
            if done:
                observation, _ = self.env.reset()

    def dispatch_parallel(
        self,
        observation: Mapping[str, float],
        budget: int,
        rerun: Sequence[ReplayItem] = (),
    ) -> None:
        """Keep up to ``parallel`` trials in flight (``rerun`` first); learn from each as
        it finishes. When something raises (a trial's bug, ``on_trial``, the policy,
        Ctrl-C), every other trial that has finished by then is recorded before the
        exception propagates (those still running are the env's to stop)."""
        env = self.env
        assert isinstance(env, TrialEnv)
        in_flight: list[PendingTrial] = []
        try:
            self._keep_in_flight(env, in_flight, observation, budget, rerun)
        except BaseException:
            _record_finished(env, in_flight)
            raise

    def _keep_in_flight(
        self,
        env: TrialEnv,
        in_flight: list[PendingTrial],
        observation: Mapping[str, float],
        budget: int,
        rerun: Sequence[ReplayItem],
    ) -> None:
        """:meth:`dispatch_parallel`'s loop; ``in_flight`` holds the trials submitted and
        not yet completed."""
        queue = list(rerun)
        dispatched, exhausted = 0, False
        while True:
            if (queue or (not exhausted and dispatched < budget)) and self.out_of_time():
                queue, exhausted = [], True
            while queue and len(in_flight) < self.parallel:
                in_flight.append(env.resubmit(queue.pop(0)))
            room = min(self.parallel - len(in_flight), budget - dispatched)
            if room > 0 and not exhausted and not queue:
                actions = self.policy.select_actions(room, observation)
                # None ends the search; fewer than room is a smaller batch (an agent that
                # can propose more once results are in is asked again as slots free up).
                exhausted = not actions
                if self.out_of_time():  # a slow proposal can outlast it
                    actions, exhausted = [], True
                for action in actions:
                    in_flight.append(env.submit(action))
                    dispatched += 1
            if not in_flight:
                return
            for pending in env.wait_ready(in_flight):
                in_flight.remove(pending)
                observation, _, _, info = env.complete(pending)
                self.learn_from(info)


def _record_finished(env: TrialEnv, in_flight: Sequence[PendingTrial]) -> None:
    """Complete (so record) every trial of ``in_flight`` that has finished, in step order,
    while an exception is on its way out; what completing one of them raises is dropped
    (that exception goes on), and each is completed even if another's completion fails.
    An env whose trials run to their end anyway (threads) is waited for first: closing it
    would wait for them too, and their results would be lost."""
    if env.runs_in_flight_to_the_end:
        running = [p.future for p in in_flight if p.future is not None and not p.completed]
        concurrent.futures.wait(running)
    for pending in sorted(in_flight, key=lambda p: p.step):
        if pending.ready and not pending.completed:
            with contextlib.suppress(Exception):
                env.complete(pending)


def _capacity_hint(env: BaseGym) -> str:
    if not isinstance(env, TrialEnv):
        return f" ({type(env).__name__} is not a TrialEnv: it has no submit/complete)"
    return f" ({env.parallel_hint})" if env.parallel_hint else ""
