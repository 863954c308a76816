"""The realizable view of text BabyAI: one rendered target and a shortest-plan teacher.

`render: slots` (the default rendering, docs/environments.md) shows the student a fixed-slot
line: what it carries, the cells ahead, left and right, and the egocentric offset of one
target cell. `teacher: shortest` (the default teacher) acts by the first step of a shortest
plan to that same target, so the teacher's action is a function of what the student sees
(up to obstacles the line does not show): the teacher never chooses the target.

The target comes from the state alone (`plan_target`):
- go to / pick up / open: the object (door) cells the mission describes; the terminal action
  is none (facing it completes a go-to), `pick up` or `toggle`;
- put next: the object to move until it is carried, then the empty cells next to a fixed
  object, where `drop` completes the mission;
- carrying an object the mission does not need (pick up, put next): any empty cell, where
  `drop` puts it down first.
Among the candidate cells the cheapest to face (a shortest-path search over poses,
envs.babyai_distance) wins; ties go to the lowest (y, x) grid position, a fixed rule.

The teacher's first step (`plan_action`): the terminal action when the agent faces the
target, else the move (go forward, turn left, turn right) that starts a cheapest path to
face it, ties broken in that fixed order. Where no target is reachable it falls back to
`drop` (when valid) or `turn left`, and says so (expert_info()['fallback']).
"""

from __future__ import annotations

from dataclasses import dataclass

from .babyai_distance import _DIRS, _door_cost, _nearest, _passable

MOVES = ("go forward", "turn left", "turn right")  # the teacher's fixed tie-break order


@dataclass(frozen=True)
class Target:
    cells: tuple[tuple[int, int], ...]  # the chosen cell (one), kept as a tuple for _nearest
    cell: tuple[int, int]
    terminal: str | None  # action once facing the cell: "pick up", "toggle", "drop" or None (go-to)
    phase: str  # "go to", "pick up", "open", "put next", "drop"
    obj: object | None  # the world object at the cell (None for an empty cell)
    cost: int  # actions to face the cell


def _pose(env) -> tuple[int, int, int]:
    return int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)


def _on_grid(o) -> bool:
    return o is not None and o.cur_pos is not None and int(o.cur_pos[0]) >= 0


def _empty_cells(grid) -> list[tuple[int, int]]:
    return [(x, y) for y in range(grid.height) for x in range(grid.width) if grid.get(x, y) is None]


def _next_to(grid, objs) -> list[tuple[int, int]]:
    cells = set()
    for o in objs:
        fx, fy = (int(v) for v in o.cur_pos)
        for dx, dy in _DIRS:
            x, y = fx + dx, fy + dy
            if 0 <= x < grid.width and 0 <= y < grid.height and grid.get(x, y) is None:
                cells.add((x, y))
    return sorted(cells)


def candidates(env) -> tuple[list[tuple[int, int]], str | None, str]:
    """(candidate cells, terminal action, phase) of the mission in this state."""
    instr, grid, carrying = env.instrs, env.grid, env.carrying
    kind = type(instr).__name__
    if kind == "GoToInstr":
        return [tuple(int(v) for v in o.cur_pos) for o in instr.desc.obj_set if _on_grid(o)], None, "go to"
    if kind == "OpenInstr":
        doors = [o for o in instr.desc.obj_set if _on_grid(o) and not o.is_open]
        return [tuple(int(v) for v in o.cur_pos) for o in doors], "toggle", "open"
    if kind == "PickupInstr":
        if carrying is not None:
            return _empty_cells(grid), "drop", "drop"
        return [tuple(int(v) for v in o.cur_pos) for o in instr.desc.obj_set if _on_grid(o)], "pick up", "pick up"
    if kind == "PutNextInstr":
        if carrying is not None and carrying in instr.desc_move.obj_set:
            fixed = [o for o in instr.desc_fixed.obj_set if _on_grid(o)]
            return _next_to(grid, fixed), "drop", "put next"
        if carrying is not None:
            return _empty_cells(grid), "drop", "drop"
        return [tuple(int(v) for v in o.cur_pos) for o in instr.desc_move.obj_set if _on_grid(o)], "pick up", "pick up"
    return [], None, "explore"


def plan_target(env) -> Target | None:
    """The one target cell the rendering shows and the teacher heads for (module doc)."""
    cells, terminal, phase = candidates(env)
    if not cells:
        return None
    # one search over poses to the cheapest facing pose(s); their faced cells tie
    cost, poses = _nearest(env.grid, _pose(env), cells)
    if cost < 0:
        return None
    faced = {(x + _DIRS[d][0], y + _DIRS[d][1]) for x, y, d in poses} & set(cells)
    cell = min(faced, key=lambda c: (c[1], c[0]))  # fixed tie-break: lowest (y, x)
    return Target(cells=(cell,), cell=cell, terminal=terminal, phase=phase, obj=env.grid.get(*cell), cost=cost)


def _move_cost(grid, pose, action) -> tuple[tuple[int, int, int], int] | None:
    x, y, d = pose
    if action == "turn left":
        return (x, y, (d - 1) % 4), 1
    if action == "turn right":
        return (x, y, (d + 1) % 4), 1
    dx, dy = _DIRS[d]
    fx, fy = x + dx, y + dy
    if _passable(grid, fx, fy):
        return (fx, fy, d), 1
    if 0 <= fx < grid.width and 0 <= fy < grid.height and _door_cost(grid, fx, fy):
        return None  # the door is opened by toggle first (a plan never walks into it)
    return None


def plan_action(env, valid: list[str], target: Target | None = None) -> tuple[str, bool]:
    """(the teacher's action, fallback?) for the current state; `target` from plan_target."""
    target = plan_target(env) if target is None else target
    if target is not None:
        start = _pose(env)
        dx, dy = _DIRS[start[2]]
        front = (start[0] + dx, start[1] + dy)
        if front == target.cell and target.terminal in valid:
            return target.terminal, False
        best = None
        for a in MOVES:
            if a not in valid:
                continue
            step = _move_cost(env.grid, start, a)
            if step is None:
                continue
            pose, w = step
            rest, _ = _nearest(env.grid, pose, list(target.cells))
            if rest < 0:
                continue
            if best is None or w + rest < best[0]:
                best = (w + rest, a)
        if best is not None:
            return best[1], False
    # no reachable target (e.g. the object to reach is carried): put down what is carried
    return ("drop" if "drop" in valid else "turn left"), True


# ------------------------------------------------------------------ rendering
def ego_offset(env, cell) -> tuple[int, int]:
    """(right, forward) offset of `cell` from the agent."""
    x, y, d = _pose(env)
    fx, fy = _DIRS[d]
    rx, ry = _DIRS[(d + 1) % 4]
    vx, vy = cell[0] - x, cell[1] - y
    return vx * rx + vy * ry, vx * fx + vy * fy


def _steps(n: int, word: str) -> str:
    return f"{n} step {word}" if n == 1 else f"{n} steps {word}"


def offset_words(right: int, forward: int) -> str:
    parts = []
    if right:
        parts.append(_steps(abs(right), "right" if right > 0 else "left"))
    if forward:
        parts.append(_steps(abs(forward), "forward" if forward > 0 else "behind"))
    return " and ".join(parts) if parts else "here"
