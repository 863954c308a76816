"""TextWorld (docs/design.md §3): games generated offline (`teachable.envs.textworld_games`, the
`textworld_games` rule) from seeds and challenge settings; each family is one challenge type
at one difficulty.

Observation: the game's feedback, the room description and the inventory (whitespace
collapsed), trimmed to `obs_max_chars`; in that order, or room | inventory | feedback with
`obs_order: room_first` (OBS_ORDERS). Valid actions: the admissible commands, without the
pure-information ones (look, inventory, examine ...) when `drop_info_actions`. Expert: the
first non-information command of the game's walkthrough recomputed from the current state
(`policy_commands`). Success: the game is won. Steps to go (the progress labels): the number of
non-information commands in that walkthrough; 0 once won, infinite once lost.

State: data only, JSON: the game id plus the action prefix, replayed on restore (the games
are deterministic), with textworld's version; restoring a state written by another
textworld version is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from pathlib import Path

from ..io import InputError
from .base import InvalidAction, Obs, TextEnv

_STATE_VERSION = 1
INFO_VERBS = ("look", "inventory", "examine")
_WS = re.compile(r"\s+")
_BANNER = re.compile(r"^.*?\$\$\s*", re.S)  # the ASCII-art title of a game's first feedback
# env.textworld.obs_order: feedback_first = feedback | room | inventory; room_first = room |
# inventory | feedback (the parts that change least between steps first: with
# student.prompt_layout observation_first, consecutive prompts share a longer prefix)
OBS_ORDERS = ("feedback_first", "room_first")


def textworld_version() -> str:
    import textworld

    return textworld.__version__


def is_info_command(cmd: str) -> bool:
    return cmd.split(" ", 1)[0] in INFO_VERBS


def clean(text: str | None) -> str:
    return _WS.sub(" ", (text or "").replace("\\", " ")).strip()


def trim(text: str, n: int) -> str:
    """At most n characters, cut at a word boundary."""
    if len(text) <= n:
        return text
    cut = text[:n]
    return cut[: cut.rfind(" ")] if " " in cut else cut


class _EnginePool:
    """Started textworld engines of this process, idle ones kept per (game file, expert):
    the engine adopts a kept one with reset() instead of textworld.start(), which costs
    about 5x a reset. An env takes an engine when it starts a game and gives it back when it
    switches games or closes (the rollout engine closes every finished episode's env), so
    one engine never serves two live envs."""

    def __init__(self, max_idle: int = 64):
        self.max_idle = max_idle
        self.idle: dict[tuple, list] = {}

    def take(self, key: tuple):
        kept = self.idle.get(key)
        return kept.pop() if kept else None

    def give(self, key: tuple, engine) -> None:
        kept = self.idle.setdefault(key, [])
        if len(kept) < self.max_idle:
            kept.append(engine)
        else:
            engine.close()


_POOL = _EnginePool()


def load_manifest(games_dir: str | Path) -> dict:
    path = Path(games_dir) / "manifest.json"
    if not path.exists():
        raise InputError(f"env.textworld.games_dir: {path} not found (run the textworld_games rule first)")
    with open(path) as f:
        return json.load(f)


class TextWorldEnv(TextEnv):
    """Episode seed s: family = families[s % len(families)], game = that family's pool of the
    env's split ('tasks' for phase 0 / labeling / training, 'eval' for held-out evaluation)
    at index (s // len(families)) % pool size."""

    name = "textworld"
    actions: tuple[str, ...] = ()  # open vocabulary: the valid actions come with each state

    def __init__(self, families=(), max_steps: int = 30, games_dir: str = "results/textworld/games",
                 obs_max_chars: int = 600, drop_info_actions: bool = True, split: str = "tasks",
                 expert: bool = True, obs_order: str = "feedback_first",
                 **_generation):  # game-generation keys are the games rule's
        self.families = list(families)
        if not self.families:
            raise InputError("env.families: empty for textworld")
        if split not in ("tasks", "eval"):
            raise ValueError(f"textworld env: unknown split {split!r} (tasks | eval)")
        if obs_order not in OBS_ORDERS:
            raise InputError(f"env.textworld.obs_order: {obs_order!r} is not one of {', '.join(OBS_ORDERS)}")
        self.obs_order = obs_order
        self.max_steps = int(max_steps)
        self.games_dir = Path(games_dir)
        self.obs_max_chars = int(obs_max_chars)
        self.drop_info = bool(drop_info_actions)
        self.split = split
        self.expert = bool(expert)
        self.manifest = load_manifest(self.games_dir)
        for fam in self.families:
            if fam not in self.manifest["pools"]:
                raise InputError(f"env.families: '{fam}' has no games in {self.games_dir}/manifest.json "
                                 f"(families there: {', '.join(sorted(self.manifest['pools']))})")
        self._tw = None  # the running textworld engine
        self._key = None  # its pool key (game file, expert), None when not running
        self._gs = None  # its current game state
        self._s: dict = {}

    # ------------------------------------------------------------------ the engine
    def _start(self, game: str) -> None:
        import textworld

        key = (str((self.games_dir / self.manifest["games"][game]["file"]).resolve()), self.expert)
        if self._key != key:
            self.close()
            self._tw = _POOL.take(key)
            if self._tw is None:
                infos = textworld.EnvInfos(admissible_commands=True, policy_commands=self.expert, won=True,
                                           lost=True, description=True, inventory=True, objective=True, feedback=True)
                with warnings.catch_warnings():  # jericho: "not fully supported" = no score detection; unused
                    warnings.filterwarnings("ignore", message=".*not fully supported.*")
                    self._tw = textworld.start(key[0], request_infos=infos)
            self._key = key
        self._gs = self._tw.reset()

    def _play(self, action: str) -> None:
        gs, _, _ = self._tw.step(action)
        self._gs = gs

    def _begin(self, game: str, family: str, seed: int | None) -> None:
        self._start(game)
        self._s = {"game": game, "family": family, "seed": seed, "actions": [],
                   "feedback": "", "won": False, "lost": False}
        self.family = family

    # ------------------------------------------------------------------ the contract
    def game_for_seed(self, seed: int) -> tuple[str, str]:
        fam = self.families[seed % len(self.families)]
        pool = self.manifest["pools"][fam][self.split]
        if not pool:
            raise InputError(f"textworld: family '{fam}' has no '{self.split}' games in {self.games_dir}")
        return fam, pool[(seed // len(self.families)) % len(pool)]

    def reset(self, seed: int) -> Obs:
        fam, game = self.game_for_seed(int(seed))
        self._begin(game, fam, int(seed))
        return self.observe()

    def _valid(self) -> list[str]:
        cmds = list(self._gs["admissible_commands"] or [])
        if self.drop_info:  # (kept when nothing else is admissible: a state needs an action)
            cmds = [c for c in cmds if not is_info_command(c)] or cmds
        return sorted(dict.fromkeys(cmds))

    def observe(self) -> Obs:
        gs = self._gs
        # feedback and inventory keep up to a quarter of the budget each, the room the rest
        n = self.obs_max_chars
        fb, inv = trim(self._s["feedback"], n // 4), trim(clean(gs["inventory"]), n // 4)
        room = trim(clean(gs["description"]), n - len(fb) - len(inv) - 6)
        parts = (fb, room, inv) if self.obs_order == "feedback_first" else (room, inv, fb)
        text = trim(" | ".join(p for p in parts if p), n)
        mission = trim(clean(gs["objective"]), self.obs_max_chars)
        valid = [] if self._s["won"] or self._s["lost"] else self._valid()
        return Obs(text=text, mission=mission, valid_actions=valid)

    def step(self, action: str):
        s = self._s
        if action not in self._valid():
            raise InvalidAction(f"textworld env: {action!r} is not a valid command here")
        self._play(action)
        s["actions"].append(action)
        s["feedback"] = clean(self._gs["feedback"])
        s["won"], s["lost"] = bool(self._gs["won"]), bool(self._gs["lost"])
        done = s["won"] or s["lost"] or len(s["actions"]) >= self.max_steps
        info = {"success": s["won"], "family": s["family"], "t": len(s["actions"]), "game": s["game"]}
        return self.observe(), (1.0 if s["won"] else 0.0), done, info

    def success(self) -> bool:
        return bool(self._s.get("won"))

    def expert_action(self) -> str | None:
        return self.expert_info()["action"]

    def expert_info(self) -> dict:
        """The first non-information walkthrough command; the subgoal names the env, so the
        bot teacher speaks TextWorld (teacher.bot_textworld)."""
        if not self.expert:
            raise RuntimeError("textworld env: built with expert=False; the expert is not available")
        cmds = self._plan()
        a = cmds[0] if cmds else None
        if a is not None and a not in self._valid():
            a = None
        return {"action": a, "subgoal": "textworld: " + " , ".join(cmds[:3]) if cmds else "textworld: done"}

    def _plan(self) -> list[str]:
        """The walkthrough from the current state, without the information commands where the
        agent cannot take them."""
        return [c for c in (self._gs["policy_commands"] or []) if not (self.drop_info and is_info_command(c))]

    def steps_to_go(self) -> float | None:
        """Length of the game's walkthrough recomputed from the current state (TextWorld's own
        compressed plan, not a proven shortest one); 0 once won; math.inf once lost (no plan can
        win any more, so a rollout's closest approach is what it reached before). None with
        expert=False (the walkthrough is not computed) or where the game offers no plan."""
        if self._s.get("won"):
            return 0
        if self._s.get("lost"):
            return math.inf
        if not self.expert:
            return None
        return len(self._plan()) or None

    def get_state(self) -> bytes:
        s = self._s
        return json.dumps({"v": _STATE_VERSION, "env": "textworld", "textworld_version": textworld_version(),
                           "game": s["game"], "family": s["family"], "seed": s["seed"],
                           "actions": list(s["actions"])}, sort_keys=True).encode()

    def set_state(self, state: bytes) -> Obs:
        try:
            d = json.loads(state)
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"textworld state: not JSON ({e})") from None
        if not isinstance(d, dict) or d.get("env") != "textworld" or d.get("v") != _STATE_VERSION:
            raise InputError("textworld state: not a version-1 textworld state")
        if d["textworld_version"] != textworld_version():
            raise InputError(f"textworld state: written by textworld {d['textworld_version']}, "
                             f"this is {textworld_version()} (replay may differ)")
        if d["game"] not in self.manifest["games"]:
            raise InputError(f"textworld state: game {d['game']!r} not in {self.games_dir}/manifest.json")
        cur = self._s.get("actions", [])
        prefix = d["actions"]
        if self._s.get("game") == d["game"] and cur == prefix[: len(cur)]:
            todo = prefix[len(cur):]  # the running game is a prefix of the target: step on
        else:
            self._begin(d["game"], d["family"], d["seed"])
            todo = prefix
        for a in todo:
            self.step(a)
        self._s["seed"] = d["seed"]
        return self.observe()

    def state_key(self) -> str:
        gs = self._gs
        key = f"{self._s['game']}|{clean(gs['description'])}|{clean(gs['inventory'])}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def close(self) -> None:
        """Give the running engine back to this process's pool (reused by the next env that
        starts the same game)."""
        if self._tw is not None:
            _POOL.give(self._key, self._tw)
            self._tw, self._key, self._s = None, None, {}
