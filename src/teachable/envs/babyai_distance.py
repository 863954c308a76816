"""Steps to go in text BabyAI: the length of a shortest plan that completes the mission
from the current state, by a shortest-path search (Dijkstra) over poses (x, y, direction).

It is the continuous outcome behind the progress labels (docs/labeling.md): a rollout that
fails still ends nearer to or farther from the goal. The search mirrors minigrid's verifiers
(`minigrid.envs.babyai.core.verifier`): go-to = face one of the described positions; pick
up = face a described object, then `pick up`; open = face a described door, then `toggle`;
put next = pick up the object to move (unless carried), face an empty cell next to a
fixed object's position, then `drop`. Walls and locked doors block the way; a closed door
costs one `toggle` more, and a cell holding a movable object 4 actions more (carry it
aside: pick up, turn, drop, turn back), so a path exists even where the agent walled
itself in. Where the free grid has a short path this is the shortest plan (on 80 expert episodes
it equals the bot's plan length in most and never exceeds it: tests/test_progress_labels.py).
One search visits at most 4 x width x height poses (256 in an 8 x 8 room)."""

from __future__ import annotations

import heapq

_DIRS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # minigrid's DIR_TO_VEC: 0 east, 1 south, 2 west, 3 north


# Stepping into a cell that holds a movable object: pick it up, turn, drop it, turn back
# (then the step itself). An approximation (the turn's cell may be full too); it only
# matters where no free path exists, e.g. an agent that walled itself in with a key.
_CLEAR_COST = 4


def _passable(grid, x: int, y: int, moved=None) -> bool:
    if not (0 <= x < grid.width and 0 <= y < grid.height):
        return False
    c = grid.get(x, y)
    return c is None or c is moved or c.can_overlap()


def _door_cost(grid, x: int, y: int) -> int:
    """Extra actions to enter (x, y): 1 for a closed, unlocked door (toggle), else 0."""
    c = grid.get(x, y)
    return 1 if c is not None and c.type == "door" and not c.is_open and not c.is_locked else 0


def _poses_facing(grid, start: tuple[int, int, int], targets: set[tuple[int, int]], moved=None) -> dict:
    """{pose facing a target cell: actions to reach it}, for the cheapest such poses
    (Dijkstra over poses: a turn or a step costs 1, opening a closed door on the way 1 more)."""
    best = {start: 0}
    heap = [(0, start)]
    found: dict = {}
    while heap:
        cost, pose = heapq.heappop(heap)
        if cost > best.get(pose, 1 << 30) or (found and cost > min(found.values())):
            continue
        x, y, d = pose
        dx, dy = _DIRS[d]
        fx, fy = x + dx, y + dy
        if (fx, fy) in targets:
            found[pose] = cost
            continue
        steps = [((x, y, (d - 1) % 4), 1), ((x, y, (d + 1) % 4), 1)]
        if _passable(grid, fx, fy, moved):
            steps.append(((fx, fy, d), 1))
        elif 0 <= fx < grid.width and 0 <= fy < grid.height and _door_cost(grid, fx, fy):
            steps.append(((fx, fy, d), 2))
        elif 0 <= fx < grid.width and 0 <= fy < grid.height and grid.get(fx, fy).can_pickup():
            steps.append(((fx, fy, d), 1 + _CLEAR_COST))
        for nxt, w in steps:
            if cost + w < best.get(nxt, 1 << 30):
                best[nxt] = cost + w
                heapq.heappush(heap, (cost + w, nxt))
    return found


def _nearest(grid, start, targets, moved=None) -> tuple[int, list]:
    found = _poses_facing(grid, start, set(targets), moved)
    if not found:
        return -1, []
    c = min(found.values())
    return c, [p for p, v in found.items() if v == c]


def _drop_cells(grid, fixed_poss, moved) -> set[tuple[int, int]]:
    """Empty cells (4-)next to a fixed object's position: where a drop completes put-next."""
    cells = set()
    for fx, fy in fixed_poss:
        for dx, dy in _DIRS:
            x, y = int(fx) + dx, int(fy) + dy
            if 0 <= x < grid.width and 0 <= y < grid.height and (grid.get(x, y) is None or grid.get(x, y) is moved):
                cells.add((x, y))
    return cells


def steps_to_go(env) -> int | None:
    """Length of a shortest plan completing `env`'s mission (a minigrid BabyAI level after
    reset/steps), or None when the search finds none (the goal is walled off, or the
    instruction is not one of go-to / pick up / open / put next)."""
    instr = env.instrs
    grid = env.grid
    start = (int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir))
    kind = type(instr).__name__
    carrying = env.carrying
    drop_first = 0
    if kind == "GoToInstr":
        cost, _ = _nearest(grid, start, [tuple(map(int, p)) for p in instr.desc.obj_poss])
        return cost if cost >= 0 else None
    if kind == "OpenInstr":
        doors = [tuple(map(int, o.cur_pos)) for o in instr.desc.obj_set if not o.is_open]
        cost, _ = _nearest(grid, start, doors)
        return cost + 1 if cost >= 0 else None
    if kind == "PickupInstr":
        objs = [o for o in instr.desc.obj_set if o is not carrying and o.cur_pos is not None and o.cur_pos[0] >= 0]
        if carrying is not None:
            drop_first = 1  # a held object must be put down before picking up another
        cost, _ = _nearest(grid, start, [tuple(map(int, o.cur_pos)) for o in objs])
        return cost + 1 + drop_first if cost >= 0 else None
    if kind == "PutNextInstr":
        fixed = [tuple(map(int, p)) for p in instr.desc_fixed.obj_poss]
        if carrying is not None and carrying in instr.desc_move.obj_set:
            cost, _ = _nearest(grid, start, _drop_cells(grid, fixed, None))
            return cost + 1 if cost >= 0 else None
        if carrying is not None:
            drop_first = 1
        best = None
        for o in instr.desc_move.obj_set:
            if o.cur_pos is None or o.cur_pos[0] < 0:
                continue
            pos = tuple(map(int, o.cur_pos))
            c1, poses = _nearest(grid, start, [pos])
            if c1 < 0:
                continue
            # after the pick-up the object's cell is free: the second leg may cross it
            cells = _drop_cells(grid, fixed, o)
            legs = [c for c in (_nearest(grid, p, cells, moved=o)[0] for p in poses) if c >= 0]
            if not legs:
                continue
            c2 = min(legs)
            total = c1 + 1 + c2 + 1 + drop_first
            best = total if best is None else min(best, total)
        return best
    return None
