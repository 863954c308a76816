"""Batched rollout engine: many episodes step in lock-step, and each step is one batched
policy call for all live episodes that need the model and all their candidate actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
from tqdm.auto import tqdm

from .envs import TextEnv
from .action_dist import entropy, softmax
from .prompts import DEFAULT_LAYOUT, build_prompt, check_layout
from .vocab import ROLLOUT_MODES


class Scorer(Protocol):
    """What the engine asks of a policy (teachable.policy.Policy, a test's stand-in): the
    score of every candidate action of every prompt. The engine is torch-free at import;
    the policy it is given brings torch. One with `reuses_prefixes` also takes a
    PrefixCache and each prompt's owners (episodes)."""

    def score(self, prompts: list[str], candidates: list[list[str]], *reuse) -> list[np.ndarray]: ...


@dataclass
class EpisodeSpec:
    """One episode: start from `seed` (reset) or from a serialized `state`.

    mode: policy = student acts; force = expert action at the first step, then student;
    deviate = the first action drawn from the student's distribution without the expert's
    action (coupled_deviation), then student; expert = expert acts every step. `sample_seed` None means greedy."""

    episode_id: str
    seed: int | None = None
    state: bytes | None = None
    mode: str = "policy"
    patch: str = ""
    history: list[str] = field(default_factory=list)
    max_steps: int = 64
    sample_seed: int | None = None
    track_to_go: bool = False  # env.steps_to_go() after every step (the progress labels)
    # the patch is in the prompt of the first `patch_steps` steps only (None: every step, the
    # CPT's; 1: the snapshot's own state, phase 1B's matched CPT, docs/labeling.md)
    patch_steps: int | None = None


@dataclass
class StepRecord:
    t: int
    action: str
    valid_actions: list[str]
    probs: list[float] | None  # None when the expert acted
    entropy: float | None
    state_key: str
    prompt: str = ""  # what the policy was shown (the engine's own prompt: replay sets reuse it)


@dataclass
class EpisodeResult:
    episode_id: str
    success: bool
    steps: int
    actions: list[str]
    loop_step: int | None  # first step whose resulting state was seen before
    repeat_rate: float  # share of steps that revisit a seen state
    family: str
    mission: str
    records: list[StepRecord] | None = None
    # with spec.track_to_go: env.steps_to_go() at the start, at the end (0 on success) and its
    # minimum over the episode; None where the env cannot tell or it was not tracked, inf
    # where the mission can no longer be done. The progress labels use 1 - min / start
    # (docs/labeling.md).
    to_go_start: float | None = None
    to_go_end: float | None = None
    to_go_min: float | None = None


class _Live:
    def __init__(self, spec: EpisodeSpec, env: TextEnv, history_len: int, uid: int = 0,
                 layout: str = DEFAULT_LAYOUT):
        self.spec = spec
        self.uid = uid  # its index in run_episodes' specs: the key of its prompt's KV (PrefixCache)
        self.env = env
        self.obs = env.set_state(spec.state) if spec.state is not None else env.reset(spec.seed)
        self.history = list(spec.history)
        self.history_len = history_len
        self.layout = layout  # student.prompt_layout
        self.rng = np.random.default_rng(spec.sample_seed) if spec.sample_seed is not None else None
        self.actions: list[str] = []
        self.records: list[StepRecord] = []
        self.seen = {env.state_key()}
        self.to_go_start = env.steps_to_go() if spec.track_to_go else None
        self.to_go_min = self.to_go_start
        self.loop_step = None
        self.repeats = 0
        self.done = False
        self.success = False
        if spec.mode == "policy":  # never asks the expert: stop the env's bot from replanning
            env.drop_expert()

    def needs_model(self) -> bool:
        if self.spec.mode == "expert":
            return False
        return not (self.spec.mode == "force" and not self.actions)

    def avoid_expert(self) -> bool:
        """The first step of a deviate rollout: the expert's action is excluded."""
        return self.spec.mode == "deviate" and not self.actions

    def avoided_index(self) -> int | None:
        """Index of the expert's action among the valid ones (None: it is not one of them,
        or it is the only one, so there is nothing to deviate from or to)."""
        valid = list(self.obs.valid_actions)
        a = self.env.expert_action()
        return valid.index(a) if a in valid and len(valid) > 1 else None

    def prompt(self) -> str:
        hist = self.history[-self.history_len :] if self.history_len else []
        n = self.spec.patch_steps
        patch = self.spec.patch if n is None or len(self.actions) < n else ""
        return build_prompt(self.obs.mission, self.obs.text, hist, patch, self.layout)


def coupled_deviation(p: np.ndarray, u: float, avoid: int) -> int:
    """The index drawn with uniform `u` from `p` without index `avoid`, coupled to the
    unrestricted draw inverse_cdf(p, u): the same index wherever that draw is not `avoid`;
    where it is, `u`'s position inside avoid's interval, stretched to [0, 1), draws from
    the rest. Exact: P(i) = p_i / (1 - p_avoid) for every i != avoid. So a deviate rollout
    equals its policy twin whenever the policy did not pick the expert's action, and only
    the other streams need running (labeling.branches)."""
    k = inverse_cdf(p, u)
    if k != avoid or len(p) < 2:
        return k
    c = np.cumsum(p)
    lo = c[avoid] - p[avoid]
    v = min(max((u * c[-1] - lo) / p[avoid], 0.0), np.nextafter(1.0, 0.0)) if p[avoid] > 0 else u
    rest = np.array(p, dtype=float)
    rest[avoid] = 0.0
    return inverse_cdf(rest, v)


def pick_index(scores: np.ndarray, temperature: float, u: float) -> int:
    """The action a student takes from its candidate scores: greedy at temperature 0, else
    drawn at `temperature` with the uniform `u` (inverse_cdf)."""
    return int(np.argmax(scores)) if temperature <= 0 else inverse_cdf(softmax(scores, temperature), u)


def inverse_cdf(p: np.ndarray, u: float) -> int:
    """Index drawn from `p` with one uniform `u` in [0, 1): the first index whose cumulative
    probability exceeds u. One uniform per step (instead of Generator.choice) lets episodes
    that share a stream (common random numbers) take the same action wherever their
    distributions are close, so differences between conditions are not sampling noise."""
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, u * c[-1], side="right"), len(p) - 1))


# Episodes alive at once when a caller gives no `max_live`; scripting.setup sets it from
# student.max_live_episodes so that every stage's memory is bounded the same way.
MAX_LIVE_EPISODES = 256
# Re-encode only what follows the part of an episode's prompt that its last step's prompt
# shares (PrefixCache); scripting.setup sets it from student.reuse_prefix.
REUSE_PREFIX = True
# Tokens one scoring forward may hold (student.max_batch_tokens; Policy splits its batches
# to fit and halves one on a CUDA out-of-memory error): an int, or 'auto' = from the free
# device memory and the model's shape on CUDA, no token limit on CPU (batches of
# student.batch_size prompts, as before). scripting.setup sets it from the config.
MAX_BATCH_TOKENS: int | str = "auto"


class PrefixCache:
    """The prompt KV of each episode's last scored step: an episode's next prompt mostly
    repeats the last one's beginning (mission, patch; with student.prompt_layout
    observation_first also the observation's unchanged start), so Policy.score re-encodes
    only what follows the common prefix. Holds one step of KV at a
    time: per episode (owner), the opaque handle the scorer gave back (policy._PromptKV)."""

    def __init__(self):
        self._last: dict = {}

    def parent(self, owners: list):
        for o in owners:
            if o in self._last:
                return self._last[o]
        return None

    def keep(self, owners: list[list], handles: list) -> None:
        self._last = {o: h for os_, h in zip(owners, handles) if h is not None for o in os_}


def _result(e: _Live, record_steps: bool) -> EpisodeResult:
    return EpisodeResult(
        episode_id=e.spec.episode_id, success=e.success, steps=len(e.actions), actions=e.actions,
        loop_step=e.loop_step, repeat_rate=e.repeats / max(1, len(e.actions)), family=e.env.family,
        mission=e.obs.mission, records=e.records if record_steps else None,
        to_go_start=e.to_go_start, to_go_min=e.to_go_min,
        to_go_end=None if not e.spec.track_to_go else 0 if e.success else e.env.steps_to_go(),
    )


def _advance(policy, live: list[_Live], temperature: float, record_steps: bool, bar, reuse=None) -> None:
    """One lock-step: a batched policy call for the live episodes that need the model, then
    one env step each. (A function, so that no local keeps a finished episode alive.)"""
    model_eps = [e for e in live if e.needs_model()]
    dists = {}
    if model_eps:
        # episodes in the same situation (rollouts of one condition before they diverge,
        # force and policy rollouts whose first actions agree) share one scoring
        keys = [(e.prompt(), tuple(e.obs.valid_actions)) for e in model_eps]
        owners: dict = {}
        for e, k in zip(model_eps, keys):
            owners.setdefault(k, []).append(e.uid)
        uniq = list(owners)
        args = ([k[0] for k in uniq], [list(k[1]) for k in uniq])
        if reuse is not None:
            args += (reuse, [owners[k] for k in uniq])
        scores = dict(zip(uniq, policy.score(*args)))
        dists = {id(e): scores[k] for e, k in zip(model_eps, keys)}
    for e in live:
        valid = e.obs.valid_actions
        # one draw per step whoever acts (a forced or expert step uses up its draw), so
        # draw t of every episode sharing a stream belongs to step t
        u = e.rng.random() if e.rng is not None else None
        if id(e) in dists:
            p = softmax(dists[id(e)], 1.0)
            avoid = e.avoided_index() if e.avoid_expert() else None
            if u is None or temperature <= 0:
                a = valid[int(np.argmax(p if avoid is None else np.where(np.arange(len(p)) == avoid, -1.0, p)))]
            elif avoid is not None:
                a = valid[coupled_deviation(softmax(dists[id(e)], temperature), u, avoid)]
            else:
                a = valid[inverse_cdf(softmax(dists[id(e)], temperature), u)]
            probs, ent = [float(x) for x in p], entropy(p)
        else:
            a = e.env.expert_action()
            if a is None:
                raise RuntimeError(f"env {e.env.name} has no expert; cannot run mode {e.spec.mode}")
            probs, ent = None, None
        if record_steps:
            e.records.append(StepRecord(len(e.actions), a, list(valid), probs, ent, e.env.state_key(), e.prompt()))
        if e.spec.mode in ("force", "deviate") and not e.actions:
            e.env.drop_expert()  # forced step taken: the rest of the rollout is the student's
        e.obs, _, done, info = e.env.step(a)
        e.actions.append(a)
        e.history.append(a)
        key = e.env.state_key()
        if key in e.seen:
            e.repeats += 1
            if e.loop_step is None:
                e.loop_step = len(e.actions) - 1
        e.seen.add(key)
        e.success = bool(info.get("success", False))
        if e.to_go_min is not None:
            d = 0 if e.success else e.env.steps_to_go()
            e.to_go_min = None if d is None else min(e.to_go_min, d)
        if done or e.success or len(e.actions) >= e.spec.max_steps:
            e.done = True
            bar.update(1)


def _retire(live: list[tuple[int, _Live]], results: list, record_steps: bool) -> list[tuple[int, _Live]]:
    """Store the finished episodes' results, close their envs (a TextWorld engine goes back
    to its pool) and return the live rest. (A function, so that no local keeps a finished
    episode alive: their slots and memory are freed.)"""
    for i, e in live:
        if e.done:
            results[i] = _result(e, record_steps)
            e.env.close()
    return [(i, e) for i, e in live if not e.done]


def run_episodes(
    policy: Scorer | None,
    make_env: Callable[[], TextEnv],
    specs: list[EpisodeSpec],
    temperature: float = 1.0,
    history_len: int = 2,
    record_steps: bool = False,
    progress: bool | str = False,
    max_live: int | None = None,
    layout: str = DEFAULT_LAYOUT,
) -> list[EpisodeResult]:
    """Roll out every spec to the end; returns results in the order of `specs`.

    At most `max_live` episodes (env copies) are alive at once (default MAX_LIVE_EPISODES):
    the next spec starts as soon as another episode finishes, so memory stays flat however
    many specs there are. An episode's result depends only on its spec (its own sample
    seed), not on the cap or on which episodes share its batches. `layout` is the
    student's prompt layout (student.prompt_layout, prompts.PROMPT_LAYOUTS)."""
    check_layout(layout)
    for s in specs:
        if s.mode not in ROLLOUT_MODES:
            raise ValueError(f"unknown rollout mode {s.mode!r} (known: {', '.join(ROLLOUT_MODES)})")
        if (s.seed is None) == (s.state is None):
            raise ValueError(f"episode {s.episode_id}: give exactly one of seed or state")
    if policy is None and any(s.mode != "expert" for s in specs):
        raise ValueError("a policy is required for policy/force episodes")
    cap = max(1, int(max_live if max_live is not None else MAX_LIVE_EPISODES))
    reuse = None
    if REUSE_PREFIX and getattr(policy, "reuses_prefixes", False):
        reuse = PrefixCache()
    results: list[EpisodeResult | None] = [None] * len(specs)
    live: list[tuple[int, _Live]] = []
    next_spec = 0
    bar = tqdm(total=len(specs), desc=progress if isinstance(progress, str) else "episodes",
               disable=not progress, mininterval=2.0)
    while True:
        while next_spec < len(specs) and len(live) < cap:  # refill freed slots, in spec order
            live.append((next_spec, _Live(specs[next_spec], make_env(), history_len, next_spec, layout)))
            next_spec += 1
        if not live:
            break
        _advance(policy, [e for _, e in live], temperature, record_steps, bar, reuse)
        live = _retire(live, results, record_steps)
    bar.close()
    return results  # type: ignore[return-value]
