"""Offline TextWorld game generation (the `textworld_games` rule): per family a pool of
'tasks' games (phase 0, labeling, training) and a disjoint pool of held-out 'eval' games,
each compiled by textworld's own challenge generators (what `tw-make <challenge>` runs)
from a seed derived from (master seed, family, split, index)."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..io import InputError, atomic_dir, derive_seed, write_json

# family -> (challenge, tw-make arguments of that challenge)
FAMILIES: dict[str, tuple[str, list[str]]] = {
    "coin1": ("tw-coin_collector", ["--level", "1"]),
    "coin5": ("tw-coin_collector", ["--level", "5"]),
    "treasure1": ("tw-treasure_hunter", ["--level", "1"]),
    "treasure5": ("tw-treasure_hunter", ["--level", "5"]),
    "simple": ("tw-simple", ["--rewards", "dense", "--goal", "detailed"]),
    "cooking1": ("tw-cooking", ["--recipe", "1", "--take", "1", "--split", "train"]),
}


def family_settings(extra: dict | None = None) -> dict[str, tuple[str, list[str]]]:
    """Built-in families plus `env.textworld.custom_families` {name: {challenge, args}}."""
    fams = dict(FAMILIES)
    for name, spec in (extra or {}).items():
        fams[name] = (spec["challenge"], [str(a) for a in spec.get("args", [])])
    return fams


def make_game(challenge: str, args: list[str], seed: int, path: Path) -> str:
    """Compile one game (path without extension + '.z8'); returns the game file's path."""
    import textworld
    import textworld.challenges

    if challenge not in textworld.challenges.CHALLENGES:
        raise InputError(f"env.textworld: unknown challenge {challenge!r} "
                         f"(known: {', '.join(sorted(textworld.challenges.CHALLENGES))})")
    _, make, build_parser = textworld.challenges.CHALLENGES[challenge]
    try:
        settings = vars(build_parser().parse_args(args))
    except SystemExit:
        raise InputError(f"env.textworld: bad arguments {args} for challenge {challenge}") from None
    options = textworld.GameOptions()
    options.seeds = seed
    options.path = str(path)
    options.file_ext = ".z8"
    options.force_recompile = True
    game = make(settings=settings, options=options)
    return textworld.generator.compile_game(game, options)


def generate_games(env_cfg: dict, master_seed: int, out_dir: str, log=print, workers: int = 1) -> dict:
    """Every family's task and eval pools under out_dir, with manifest.json naming them."""
    import textworld

    tw = env_cfg["textworld"]
    fams = family_settings(tw.get("custom_families"))
    unknown = [f for f in env_cfg["families"] if f not in fams]
    if unknown:
        raise InputError(f"env.families: unknown textworld families {unknown} (known: {', '.join(sorted(fams))})")
    manifest = {"textworld_version": textworld.__version__, "seed": master_seed, "pools": {}, "games": {}}
    jobs = []
    for fam in env_cfg["families"]:
        challenge, args = fams[fam]
        manifest["pools"][fam] = {"tasks": [], "eval": []}
        for split, n in (("tasks", tw["n_task_games"]), ("eval", tw["n_eval_games"])):
            for i in range(n):
                gid = f"{fam}_{split}{i:03d}"
                seed = derive_seed(master_seed, f"textworld_game|{fam}|{split}", i)
                manifest["pools"][fam][split].append(gid)
                manifest["games"][gid] = {"file": f"{gid}.z8", "family": fam, "split": split,
                                          "challenge": challenge, "args": args, "seed": seed}
                jobs.append((gid, challenge, args, seed))
    t0 = time.time()
    with atomic_dir(out_dir) as tmp:
        # each game compiles on its own (a process each: generation is pure Python)
        with ProcessPoolExecutor(max(1, workers)) as pool:
            futs = {gid: pool.submit(make_game, ch, args, seed, Path(tmp) / gid) for gid, ch, args, seed in jobs}
            for gid, ch, args, seed in jobs:
                if Path(futs[gid].result()).name != manifest["games"][gid]["file"]:
                    raise RuntimeError(f"textworld: {gid} compiled to an unexpected file {futs[gid].result()}")
                log(f"{gid}: {ch} {' '.join(args)} seed {seed}")
        write_json(f"{tmp}/manifest.json", manifest)
    log(f"{len(manifest['games'])} games in {time.time() - t0:.1f}s")
    return manifest
