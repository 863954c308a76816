"""The text-environment contract (docs/design.md §3)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Obs:
    text: str  # language description of what the agent sees now
    mission: str
    valid_actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class TextEnv:
    """Base class of text environments.

    reset(seed) -> Obs; step(action) -> (Obs, reward, done, info); get_state() -> bytes and
    set_state(bytes) -> Obs restore exactly (same observation, valid actions and future);
    check_state(bytes) validates a state as data (no pickle, ever);
    expert_action() -> str | None; success() -> bool is the one success rule;
    state_key() -> str identifies the agent-relevant state (used for loop detection);
    family names the task family of the current episode."""

    name = "base"
    actions: tuple[str, ...] = ()
    family: str = ""

    def reset(self, seed: int) -> Obs:
        raise NotImplementedError

    def step(self, action: str) -> tuple[Obs, float, bool, dict]:
        raise NotImplementedError

    def get_state(self) -> bytes:
        raise NotImplementedError

    def set_state(self, state: bytes) -> Obs:
        raise NotImplementedError

    def check_state(self, state: bytes):
        """Raise ValueError if this env cannot restore `state`, from the data alone (no
        restore): input files are checked with it before any model loads. States are DATA
        (JSON bytes, e.g. a task seed or game id plus the action prefix), never pickle, and
        carry the env package's version (docs/design.md §3)."""

    def expert_action(self) -> str | None:
        return None

    def drop_expert(self) -> None:
        """Stop keeping the expert up to date for the rest of this episode (a rollout that
        will not ask it again); reset / set_state bring it back. Default: nothing to save."""

    def success(self) -> bool:
        raise NotImplementedError

    def steps_to_go(self) -> float | None:
        """Length of a shortest plan that completes the mission from the current state (0
        once it is done, math.inf once it can no longer be done), or None where the env
        cannot tell. The continuous outcome of the progress labels (docs/labeling.md); an env
        without it has success labels only."""
        return None

    def state_key(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Done with this env: release what it holds (TextWorld gives its game engine back to
        the process's pool). The rollout engine closes each finished episode's env."""

    def observe(self) -> Obs:
        raise NotImplementedError


class InvalidAction(ValueError):
    pass


def steps_to_go_after(env: TextEnv, valid: list[str]) -> dict[str, float]:
    """steps_to_go after each valid action from env's current state (inf where the env
    cannot tell); env is left in the state it was in."""
    state, out = env.get_state(), {}
    for a in valid:
        env.set_state(state)
        env.step(a)
        d = env.steps_to_go()
        out[a] = float("inf") if d is None else float(d)
    env.set_state(state)
    return out
