"""Control data sets of the recipe (scripts/recipe_sweep.py; docs/training.md, "Controls").

A phase-2 run's delta vs BASE means little without its two bounds on the same student and
recipe:

- `null_replay` (the floor): the replay set itself, i.e. BASE's own greedy actions. It
  teaches nothing new, so its retention drop and delta are what training alone costs.
- `expert_demos` (the positive control): fresh expert demonstrations, plentiful and right,
  on tasks of their own (seeds from (seed, 'expert_control'): not the warm-start's,
  phase 0's, the probe's or evaluation's), the warm-start's noisy-expert rollouts in the
  student's plain prompt. If the recipe can not improve the student on these, no run on a
  few dozen snapshots can be expected to.
- `dagger_demos`, the positive control at the student's own states: the student acts on
  fresh tasks of their own (seeds from (seed, 'dagger_control')), sampling at
  student.temperature as phase 0's rollouts do, and every state it visits is labelled with
  the expert's action (DAgger's data). B2_all is this at a few dozen failure states; if
  thousands of such labels can not improve the student, those few can not either.
  `dagger_shortest` is the same states labelled with a shortest-plan action instead (the
  expert's where it is one, else the first valid action after which the env's steps_to_go
  is least): it tells a bad teacher from a bad place to teach.
"""

from __future__ import annotations

from functools import partial

from ..io import InputError, derive_seed
from ..prompts import build_prompt, layout_of
from .formats import SFTExample

NULL_RUN = "null_replay"
EXPERT_RUN = "expert_demos"
DAGGER_RUN = "dagger_demos"
DAGGER_SHORTEST_RUN = "dagger_shortest"


def expert_examples(cfg: dict, n_tasks: int, noise: float | None = None) -> list[SFTExample]:
    """Demo-format examples from the env's expert on `n_tasks` fresh tasks (every state of
    each episode, the expert's action as target; a random action is executed with prob
    `noise`, default bootstrap.demo_noise, so the states include recoveries)."""
    from ..envs import env_from_config
    from ..student import demo_states

    if n_tasks < 1:
        raise InputError(f"{EXPERT_RUN}: n_tasks {n_tasks} < 1")
    st = cfg["student"]
    noise = float(cfg["bootstrap"]["demo_noise"] if noise is None else noise)
    episodes = demo_states(partial(env_from_config, cfg["env"], expert=True), n_tasks,
                           derive_seed(cfg["seed"], "expert_control"), st["history"], noise, cfg["env"]["max_steps"])
    layout = layout_of(st)
    return [SFTExample(f"expert{i:05d}_t{t:03d}", "demo", build_prompt(s["mission"], s["obs"], s["hist"], "", layout),
                       s["action"], tuple(s["valid"]))
            for i, states in enumerate(episodes) for t, s in enumerate(states)]


def shortest_action(env, valid: list[str], expert: str) -> str:
    """`expert` if no valid action leaves a shorter plan (env.steps_to_go after it), else
    the first valid action that leaves the shortest; the env is left as it was."""
    from ..envs.base import steps_to_go_after

    togo = steps_to_go_after(env, valid)
    best = min(togo.values())
    return expert if togo.get(expert) == best else next(a for a in valid if togo[a] == best)


def dagger_examples(cfg: dict, policy, n_tasks: int, labels: str = "expert") -> list[SFTExample]:
    """Demo-format examples at the states `policy` visits on `n_tasks` fresh tasks, acting
    by sampling at student.temperature (greedy at 0), each labelled with the env's expert
    action (`labels` 'expert') or a shortest-plan action ('shortest', shortest_action). The
    episodes step in lock-step, one batched scoring per step."""
    import numpy as np

    from ..envs import env_from_config
    from ..engine import pick_index

    if n_tasks < 1:
        raise InputError(f"{DAGGER_RUN}: n_tasks {n_tasks} < 1")
    if labels not in ("expert", "shortest"):
        raise InputError(f"{DAGGER_RUN}: labels {labels!r} is not one of expert, shortest")
    probe = env_from_config(cfg["env"], expert=False) if labels == "shortest" else None
    st, layout = cfg["student"], layout_of(cfg["student"])
    temp, hist_len = float(st["temperature"]), int(st["history"])
    envs = [env_from_config(cfg["env"], expert=True) for _ in range(n_tasks)]
    rngs = [np.random.default_rng(derive_seed(cfg["seed"], "dagger_sample", i)) for i in range(n_tasks)]
    obs = [env.reset(derive_seed(cfg["seed"], "dagger_control", i)) for i, env in enumerate(envs)]
    hist: list[list[str]] = [[] for _ in envs]
    steps: list[list[SFTExample]] = [[] for _ in envs]
    live = list(range(n_tasks))
    for _ in range(cfg["env"]["max_steps"]):
        if not live:
            break
        prompts = [build_prompt(obs[i].mission, obs[i].text, hist[i][-hist_len:] if hist_len else [], "", layout)
                   for i in live]
        scores = policy.score(prompts, [list(obs[i].valid_actions) for i in live])
        still = []
        for i, prompt, sc in zip(live, prompts, scores):
            valid = list(obs[i].valid_actions)
            target = envs[i].expert_action()
            if probe is not None:
                probe.set_state(envs[i].get_state())
                target = shortest_action(probe, valid, target)
            steps[i].append(SFTExample(f"dagger{i:05d}_t{len(steps[i]):03d}", "demo", prompt, target, tuple(valid)))
            a = valid[pick_index(sc, temp, rngs[i].random())]
            obs[i], _, done, info = envs[i].step(a)
            hist[i].append(a)
            if not (done or info.get("success")):
                still.append(i)
        live = still
    return [ex for ep in steps for ex in ep]


# --- the teachability controls as a stage of the DAG (rules/controls.smk, issue 29) ---------
# Per training seed, one job (scripts/controls.py) trains the control runs of controls.runs
# with the phase-2 recipe (training.*), each evaluated greedily on phase 3's evaluation tasks
# (the tasks only: BASE's record gives the same tasks); a gather writes controls.json / .csv
# with two-level (seeds x tasks) CIs. The gate student_is_teachable (teachable.gates) asks
# whether the positive control beats the null one: CI of positive - null above 0.

POSITIVE_RUN = "positive"
CONTROL_RUNS = (POSITIVE_RUN, NULL_RUN, EXPERT_RUN, DAGGER_RUN, DAGGER_SHORTEST_RUN)
CONTROLS_FILE = "controls.json"


def null_subsample(replay: list[SFTExample], n: int | None) -> list[SFTExample]:
    """The null control's data: `n` replay items (all when n is None or larger), ranked by a
    hash of their position and id (the same for every training seed), so that the null run
    makes as many optimizer steps as the positive one under `budget: epochs`."""
    from ..io import hash_fraction

    if n is None or n >= len(replay):
        return list(replay)
    ranked = sorted(range(len(replay)), key=lambda i: hash_fraction(f"{i}:{replay[i].snapshot_id}", "null_control"))
    return [replay[i] for i in sorted(ranked[:n])]


class ControlData:
    """The control runs' example sets of one config, built on demand and cached (the
    DAgger states need the student's policy; `policy` is a zero-argument loader)."""

    def __init__(self, cfg: dict, policy, replay: list[SFTExample]):
        self.cfg, self._policy, self.replay, self._cache = cfg, policy, list(replay), {}

    def __call__(self, run: str) -> list[SFTExample]:
        if run not in self._cache:
            self._cache[run] = self._build(run)
        return self._cache[run]

    def _build(self, run: str) -> list[SFTExample]:
        c = self.cfg["controls"]
        if run == EXPERT_RUN:
            return expert_examples(self.cfg, int(c["demo_tasks"]))
        if run in (DAGGER_RUN, DAGGER_SHORTEST_RUN):
            return dagger_examples(self.cfg, self._policy(), int(c["dagger_tasks"]),
                                   "shortest" if run == DAGGER_SHORTEST_RUN else "expert")
        if run == POSITIVE_RUN:  # teacher labels at the student's own states, and fresh teacher demos
            return self(DAGGER_RUN) + self(EXPERT_RUN)
        if run == NULL_RUN:
            if not self.replay:
                raise InputError(f"{NULL_RUN}: the replay set is empty (BASE solves none of its replay tasks; "
                                 "results/phase2/replay_set.json says why)")
            matched = c["null_examples"] == "matched" and POSITIVE_RUN in c["runs"]
            return null_subsample(self.replay, len(self(POSITIVE_RUN)) if matched else None)
        raise InputError(f"controls.runs: '{run}' is not one of {', '.join(CONTROL_RUNS)}")


def task_outcomes(episodes: list[dict]) -> dict[str, int]:
    """{task item: success} of a model's greedy task episodes (an evaluation record's
    'episodes', or the rows of a phase-3 episodes.csv)."""
    return {str(e["item"]): int(e["success"]) for e in episodes if e["kind"] == "task"}


def run_controls(cfg: dict, student: str, replay: list[SFTExample], seed: int, work_dir, device: str,
                 base_record: dict, base_probe: float | None = None, log=print) -> dict:
    """Train and evaluate every run of controls.runs for one training seed: the phase-2
    recipe (cfg['training'], replay mixed in as in phase 2), then greedy success on phase
    3's evaluation tasks (no panel), retention against BASE's record. Adapters go under
    `work_dir`. Returns {seed, runs: {run: {n_examples, steps, checkpoint, task_success,
    retention, outcomes {item: success}, train_s, eval_s}}}."""
    import time
    from pathlib import Path

    from ..evaluation import episode_rows, metrics_from_rows
    from ..policy import Policy
    from .sft import check_train_cfg, env_probe, train_adapter

    tr, st = cfg["training"], cfg["student"]
    check_train_cfg(tr)
    runs = list(cfg["controls"]["runs"])
    bad = [r for r in runs if r not in CONTROL_RUNS]
    if bad:
        raise InputError(f"controls.runs: {bad} not in {', '.join(CONTROL_RUNS)}")

    def load(adapter=None):
        return Policy.load(student, adapter, device, st["batch_size"], st.get("prompt_format", "auto"),
                           st.get("dtype", "auto"))

    data = ControlData(cfg, load, replay)
    out: dict = {"seed": int(seed), "runs": {}}
    for run in runs:
        examples = data(run)
        t0 = time.perf_counter()
        adapter = Path(work_dir) / run / "adapter"
        r = train_adapter(student, examples, tr, seed, adapter, device, probe=env_probe(cfg, examples, base_probe),
                          log=lambda *_: None, replay=replay)
        t1 = time.perf_counter()
        ev = metrics_from_rows(episode_rows(load(str(adapter)), cfg, []), base_record)
        m = ev["metrics"]
        out["runs"][run] = {"n_examples": r["n_examples"], "steps": r["steps"], "checkpoint": r["checkpoint"],
                            "task_success": m["task_success"], "retention": m.get("retention"),
                            "outcomes": task_outcomes(ev["episodes"]), "train_s": round(t1 - t0, 1),
                            "eval_s": round(time.perf_counter() - t1, 1)}
        log(f"{run} seed {seed}: {r['n_examples']} examples, {r['steps']} steps, task success "
            f"{m['task_success']:.3f}, retention {m.get('retention')}, train {t1 - t0:.1f}s")
    return out


def controls_summary(seed_records: list[dict], base_episodes: list[dict], stats_cfg: dict,
                     gate_seed: int | None = None) -> tuple[dict, list[dict]]:
    """controls.json and the rows of controls.csv from the per-seed records of run_controls
    and BASE's phase-3 episodes (phase3/runs/BASE/seed0.episodes.csv rows): per control run its task success, its delta vs BASE, vs the
    null control, and its retention drop, each with a two-level (seeds x tasks) paired CI;
    the outcome matrices (what the gate student_is_teachable resamples); and the gate's
    verdict with its one sentence (`gate_seed`: the gates rule's bootstrap seed, so that the
    verdict here is the one results/gates.json holds; default stats.seed)."""
    import numpy as np

    from ..gates import student_is_teachable
    from ..stats import hierarchical as hier

    base = task_outcomes(base_episodes)
    tasks = sorted(base, key=str)
    seeds = sorted(int(r["seed"]) for r in seed_records)
    if len(set(seeds)) != len(seeds):
        raise InputError(f"controls: a training seed appears twice among the per-seed records ({seeds})")
    by_seed = {int(r["seed"]): r for r in seed_records}
    runs = [r for r in CONTROL_RUNS if all(r in by_seed[s]["runs"] for s in seeds)]
    outcomes = {"tasks": tasks, "seeds": seeds, "base": [base[t] for t in tasks], "runs": {}}
    for run in runs:
        mat = []
        for s in seeds:
            o = by_seed[s]["runs"][run]["outcomes"]
            missing = [t for t in tasks if t not in o]
            if missing:
                raise InputError(f"controls: {run} seed {s} has no outcome for evaluation task(s) {missing[:5]} "
                                 "(evaluated on other tasks than BASE's phase-3 record)")
            mat.append([o[t] for t in tasks])
        outcomes["runs"][run] = mat
    kw = dict(confidence=float(stats_cfg["confidence"]), n_resamples=int(stats_cfg["n_resamples"]),
              seed=int(stats_cfg["seed"]), min_seeds=int(stats_cfg.get("min_seeds", 3)))
    b = np.array([outcomes["base"]], float)
    solved = b[0] > 0.5
    rows = []
    for run in runs:
        x = np.array(outcomes["runs"][run], float)
        ci, d = hier.mean_ci(x, **kw), hier.paired_diff(b, x, **kw)
        row = {"run_id": run, "n_seeds": len(seeds), "n_tasks": len(tasks),
               "n_examples": by_seed[seeds[0]]["runs"][run]["n_examples"],
               "steps": by_seed[seeds[0]]["runs"][run]["steps"],
               "mean": ci.point, "ci_low": ci.low, "ci_high": ci.high,
               "delta_base": d.point, "delta_base_ci_low": d.low, "delta_base_ci_high": d.high,
               "delta_null": None, "delta_null_ci_low": None, "delta_null_ci_high": None,
               "retention_drop": None, "drop_ci_low": None, "drop_ci_high": None}
        if run != NULL_RUN and NULL_RUN in runs:
            n = hier.paired_diff(np.array(outcomes["runs"][NULL_RUN], float), x, **kw)
            row.update(delta_null=n.point, delta_null_ci_low=n.low, delta_null_ci_high=n.high)
        if solved.any():
            dr = hier.mean_ci(1.0 - x, tasks=solved, **kw)
            row.update(retention_drop=dr.point, drop_ci_low=dr.low, drop_ci_high=dr.high)
        row.update(ci_unit=hier.CI_UNIT, ci_note="; ".join(sorted({c.note for c in (ci, d) if c.note})))
        rows.append(row)
    rep = {"base_task_success": float(b.mean()), "n_tasks": len(tasks), "seeds": seeds, "runs": runs,
           "table": rows, "outcomes": outcomes,
           "train_s": {run: [by_seed[s]["runs"][run]["train_s"] for s in seeds] for run in runs},
           "eval_s": {run: [by_seed[s]["runs"][run]["eval_s"] for s in seeds] for run in runs}}
    gkw = {**kw, "seed": int(stats_cfg["seed"] if gate_seed is None else gate_seed),
           "alpha": float(stats_cfg.get("alpha", 0.05))}
    gate = student_is_teachable(rep, {}, gkw, CONTROLS_FILE)[0]
    rep["teachable"] = {k: gate.get(k) for k in ("value", "ci", "gate_ci", "passed", "sentence", "note")}
    return rep, rows


def teachable_html(rep: dict) -> str:
    """The report's first page (rules/controls.smk): the student_is_teachable sentence, then
    the controls table (delta vs BASE and vs the null control, two-level CIs)."""
    from html import escape

    def f(x, spec="+.3f"):
        return "n/a" if x is None else format(x, spec)

    head = ("<tr><th>control</th><th>examples</th><th>steps</th><th>task success</th><th>vs BASE [95% CI]</th>"
            "<th>vs null [95% CI]</th><th>retention drop [95% CI]</th></tr>")
    rows = "".join(
        f"<tr><td>{escape(r['run_id'])}</td><td>{r['n_examples']}</td><td>{r['steps']}</td><td>{f(r['mean'], '.3f')}</td>"
        f"<td>{f(r['delta_base'])} [{f(r['delta_base_ci_low'])}, {f(r['delta_base_ci_high'])}]</td>"
        f"<td>{f(r['delta_null'])} [{f(r['delta_null_ci_low'])}, {f(r['delta_null_ci_high'])}]</td>"
        f"<td>{f(r['retention_drop'], '.3f')} [{f(r['drop_ci_low'], '.3f')}, {f(r['drop_ci_high'], '.3f')}]</td></tr>"
        for r in rep["table"])
    t = rep["teachable"]
    verdict = {True: "yes", False: "no", None: "not known"}[t.get("passed")]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Can this student be taught?</title></head>"
            "<body style='font-family: sans-serif'>"
            f"<h2>Can this student be taught? {verdict}</h2><p style='font-size: 1.2em'><b>{escape(t['sentence'])}</b></p>"
            f"<p>Gate student_is_teachable: CI of task success (positive control - null control) above 0. BASE task "
            f"success {rep['base_task_success']:.3f} on {rep['n_tasks']} evaluation tasks; training seeds "
            f"{', '.join(map(str, rep['seeds']))}; CIs resample seeds and tasks (paired).</p>"
            f"<table border='1' cellpadding='4' style='border-collapse: collapse'>{head}{rows}</table></body></html>\n")
