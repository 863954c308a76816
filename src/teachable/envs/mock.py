"""A tiny deterministic corridor env for fast tests only.

The agent stands in a corridor facing east or west; the goal lies `dist` cells to the east.
Mission: reach the goal. Actions: turn around, go forward, wait. Expert: face east, go."""

from __future__ import annotations

import json

from .base import InvalidAction, Obs, TextEnv


class MockEnv(TextEnv):
    name = "mock"
    actions = ("turn around", "go forward", "wait")

    def __init__(self, length: int = 6, max_steps: int = 12, families=("corridor",), expert: bool = True):
        self.length = length
        self.expert = bool(expert)
        self.max_steps = max_steps
        self.families = list(families)
        self._s: dict = {}

    def reset(self, seed: int) -> Obs:
        seed = int(seed)
        self.family = self.families[seed % len(self.families)]
        goal = 2 + seed % (self.length - 2)
        self._s = {"pos": 0, "east": bool(seed % 2), "goal": goal, "t": 0, "seed": seed,
                   "family": self.family}
        return self.observe()

    def observe(self) -> Obs:
        s = self._s
        d = s["goal"] - s["pos"]
        ahead = "ahead" if (d > 0) == s["east"] else "behind"
        text = f"the goal is {abs(d)} steps {ahead}" if d else "you are on the goal"
        return Obs(text=text, mission="go to the goal", valid_actions=list(self.actions))

    def step(self, action: str):
        if action not in self.actions:
            raise InvalidAction(f"mock env: unknown action {action!r}")
        s = self._s
        s["t"] += 1
        if action == "turn around":
            s["east"] = not s["east"]
        elif action == "go forward":
            s["pos"] = max(0, s["pos"] + (1 if s["east"] else -1))
        won = self.success()
        done = won or s["t"] >= self.max_steps
        return self.observe(), (1.0 if won else 0.0), done, {"success": won, "family": self.family}

    def success(self) -> bool:
        return self._s["pos"] == self._s["goal"]

    def steps_to_go(self) -> int:
        d = self._s["goal"] - self._s["pos"]
        return abs(d) + (0 if d == 0 or (d > 0) == self._s["east"] else 1)

    def expert_action(self) -> str:
        if not self.expert:
            raise RuntimeError("mock env: built with expert=False; the expert is not available")
        return "go forward" if self._s["east"] else "turn around"

    def get_state(self) -> bytes:
        return json.dumps(self._s, sort_keys=True).encode()

    @staticmethod
    def check_state(state: bytes) -> dict:  # noqa: D102 - see TextEnv.check_state
        try:
            s = json.loads(state)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("mock env: not a mock state (expected JSON)") from None
        keys = ("pos", "east", "goal", "t", "seed", "family")
        if not isinstance(s, dict) or any(k not in s for k in keys):
            raise ValueError(f"mock env: a state needs the keys {', '.join(keys)}")
        return s

    def set_state(self, state: bytes) -> Obs:
        self._s = self.check_state(state)
        self.family = self._s["family"]
        return self.observe()

    def state_key(self) -> str:
        return f"{self._s['pos']}:{self._s['east']}"
