"""Paper scale (docs/cluster.md): effective configs, shard-by-size job counts, shard and
N invariance of per-item results, deterministic gathers, the live-episode cap, planning
imports, and `--profile slurm` as typed."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import weakref
from functools import partial
from pathlib import Path

import pytest

from conftest import MOCK_CONFIG, ROOT, copy_workflow, snakemake
from teachable.config import effective_config, load_config, load_schema, parse_overrides
from teachable.io import InputError
from teachable.workflow.sharding import block, labeling_bound, merge_micro, merge_rollouts, n_shards, stage_shards

SCHEMA = load_schema()


def schema_default(section: str, key: str):
    return SCHEMA["properties"][section]["properties"][key]["default"]


# --- effective config ------------------------------------------------------------------

def test_full_config_does_not_inherit_the_pilot():
    full = effective_config(["config/full.yaml"])
    assert full["labeling"]["max_snapshots"] is None
    assert len(full["training"]["seeds"]) >= 5
    # keys full.yaml leaves out take schema defaults, not the pilot's values (pilot: 16)
    assert full["labeling"]["horizon"] == schema_default("labeling", "horizon") != 16
    shards = stage_shards(full)
    assert shards["phase0"] == -(-full["phase0"]["n_tasks"] // full["phase0"]["shard_size"])
    assert shards["labeling"] == -(-labeling_bound(full) // full["labeling"]["shard_size"])
    assert labeling_bound(full) == 4000 * 4 + 400 * 64  # n_tasks x offsets + expert steps, no cap
    assert min(shards["labeling"], shards["micro"], shards["phase0"]) >= 50


def test_pilot_applies_only_without_configfile():
    pilot = effective_config([])
    assert pilot == effective_config(["config/config.yaml"])
    assert pilot["labeling"]["max_snapshots"] == 120
    # the pilot stays small: about as many jobs as before sharding
    assert stage_shards(pilot) == {"phase0": 1, "labeling": 2, "micro": 2, "eval": 1}  # panel 24 / 12


def test_shard_counts_follow_n():
    cfg = effective_config(["config/full.yaml"])
    before = stage_shards(cfg)
    cfg["phase0"]["n_tasks"] *= 2
    cfg["eval"]["n_tasks"] = 10 * cfg["eval"]["shard_size"]
    after = stage_shards(cfg)
    assert after["phase0"] == 2 * before["phase0"]
    assert after["labeling"] > before["labeling"]
    assert after["eval"] >= 10
    assert n_shards(0, 5) == 1 and n_shards(11, 5) == 3
    assert block(list(range(11)), 2, 5) == [10] and block(list(range(11)), 3, 5) == []


def test_study_config_is_decisive_and_self_contained():
    study = effective_config(["config/study.yaml"])
    assert len(study["training"]["seeds"]) >= 5
    assert 4 * study["phase1b"]["n_per_quadrant"] >= 100  # CPT CI half-width <= 0.2
    assert study["eval"]["n_tasks"] >= 300  # model-vs-BASE half-width <= 0.05


def test_overrides_merge_like_snakemake_config():
    ov = parse_overrides(["labeling={shard_size: 5}", "seed=3"])
    cfg = effective_config(["config/full.yaml"], ov)
    assert cfg["seed"] == 3 and cfg["labeling"]["shard_size"] == 5
    assert cfg["labeling"]["max_snapshots"] is None  # the rest of the section stays
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_overrides(["oops"])
    with pytest.raises(InputError, match="unknown config key 'labeling.shards'"):
        effective_config(["config/full.yaml"], {"labeling": {"shards": 2}})


def test_config_show_cli():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-m", "teachable.cli", "config", "show", "--configfile",
                          "config/full.yaml", "--config", "seed=7", "--json"],
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown == effective_config(["config/full.yaml"], {"seed": 7})
    bad = subprocess.run([sys.executable, "-m", "teachable.cli", "config", "show", "--configfile", "nope.yaml"],
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "nope.yaml: config file not found" in bad.stderr


def test_dag_validation_seeds_agree_with_validation():
    from teachable.workflow.dag import validation_seeds
    from teachable.validation import validation_seeds as own_seeds

    for val in ({"phases": [2, 3], "phase": 2, "seed_start": 1000}, {"phases": [5], "phase": 1, "seed_start": 7}):
        assert validation_seeds(val) == own_seeds(val)


def test_planning_imports_no_torch():
    code = ("import sys; import teachable.workflow.dag, teachable.config, teachable.workflow.sharding; "
            "print(sorted(m for m in ('torch', 'pandas', 'scipy', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_gathers_and_training_helpers_import_light():
    """Aggregation jobs (gathers, tables, correlation) load no torch, and the registry and
    stats namespaces load their heavy submodules only when a name is used (teachable._lazy):
    a DAG of hundreds of processes pays each import once per process."""
    code = ("import sys; import teachable.evaluation, teachable.labeling.pipeline, teachable.labeling.validity, "
            "teachable.registry.wandb_mirror, teachable.workflow.sharding; "
            "print(sorted(m for m in ('torch', 'transformers', 'statsmodels', 'matplotlib') if m in sys.modules)); "
            "import teachable.stats as s, teachable.registry as r; s.holm; r.Registry; s.hierarchical; "
            "print('statsmodels' in sys.modules, 'teachable.registry.query' in sys.modules)\n"
            "try:\n    s.no_such_name\nexcept AttributeError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.stdout.splitlines() == ["[]", "True True", "module 'teachable.stats' has no attribute 'no_such_name'"], \
        out.stdout + out.stderr


def test_threads_set_before_and_after_torch_loads():
    """scripting.set_threads sizes torch's pool without importing torch (gathers never load
    it); a torch that loads afterwards, or one loaded already, gets that many threads."""
    code = ("import sys; from teachable.workflow.scripting import set_threads; set_threads(1); "
            "print('torch' in sys.modules); import torch; print(torch.get_num_threads()); "
            "set_threads(2); print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "2"})
    assert out.stdout.split() == ["False", "1", "2"], out.stdout + out.stderr


# --- dry runs -----------------------------------------------------------------------------

def job_counts(text: str) -> dict[str, int]:
    stats = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


@pytest.fixture(scope="module")
def wf_copy(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("scale_wf"))


def test_full_dry_run_spreads_heavy_stages(wf_copy):
    dry = snakemake(wf_copy, "-n", "-p", "--configfile", "config/full.yaml")
    text = dry.stdout + dry.stderr
    counts = job_counts(text)
    for rule in ("mining_rollouts", "label_shard", "micro_training"):
        assert counts[rule] >= 50, (rule, counts[rule])
    # a run's blocks are written by its seed's train_seed job: one job a seed, every run
    assert counts["train_seed"] == 5 and counts["selection_seed"] == 5
    assert counts["evaluate_base"] == stage_shards(effective_config(["config/full.yaml"]))["eval"] >= 2
    label_cmd = next(line for line in text.splitlines() if "scripts/label_shard.py" in line)
    assert '"max_snapshots": null' in label_cmd and '"horizon": 16' not in label_cmd


def test_other_envs_options_do_not_reach_a_jobs_params(wf_copy):
    """A BabyAI job's --cfg carries no env.textworld section (a TextWorld-only key change
    would otherwise make every BabyAI job stale); a TextWorld job's carries it."""
    def commands(*args):
        text = (lambda p: p.stdout + p.stderr)(snakemake(wf_copy, "-n", "-p", "--forceall", *args))
        return [line for line in text.splitlines() if "--cfg" in line and "scripts/" in line]

    babyai = commands("--configfile", "config/full.yaml")
    assert any("scripts/train_seed.py" in c for c in babyai) and all('"env"' not in c or '"name": "babyai"' in c
                                                                     for c in babyai)
    assert not [c for c in babyai if '"textworld": {' in c]
    tw = [c for c in commands("--configfile", "config/textworld.yaml") if "scripts/mining_rollouts.py" in c]
    assert tw and '"textworld": {' in tw[0]


def test_study_dry_run(wf_copy):
    counts = job_counts((lambda p: p.stdout + p.stderr)(snakemake(wf_copy, "-n", "--configfile", "config/study.yaml")))
    assert counts["train_seed"] == 5 and counts["evaluate_gather"] == 1 + 14 * 5


def test_profile_slurm_as_typed(tmp_path):
    """`snakemake --profile slurm` from the checkout root: the root symlink resolves to
    profiles/slurm, and the dry run routes model rules (sharded ones too) to the GPU partition."""
    assert (ROOT / "slurm").resolve() == (ROOT / "profiles" / "slurm").resolve()
    wd = copy_workflow(tmp_path)
    os.symlink("profiles/slurm", wd / "slurm")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEACHABLE_SLURM_")}
    env.update(PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", PYTHONPATH=str(ROOT / "src"), HOME=str(wd))
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--profile", "slurm"],
                         cwd=wd, capture_output=True, text=True, env=env, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    blocks = re.findall(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.S | re.M)
    res: dict[str, set[str]] = {}
    for rule, body in blocks:
        m = re.search(r"resources: (.*)", body)
        res.setdefault(rule, set()).add(m.group(1) if m else "")
    for rule in ("build_student", "mining_rollouts", "label_shard", "micro_training", "evaluate_base"):
        assert res[rule] and all("slurm_partition=gpu" in r and "gpu=1" in r for r in res[rule]), rule
    assert all("slurm_partition=cpu" in r and "gpu=" not in r for r in res["mining_snapshots"])


# --- gathers ------------------------------------------------------------------------------

def test_merge_rollouts_sorted_and_disjoint():
    t = lambda i, ok: {"trajectory_id": f"traj{i:05d}", "success": ok}  # noqa: E731
    a = {"seed": 0, "trajectories": [t(2, True), t(3, False)]}
    b = {"seed": 0, "trajectories": [t(0, True), t(1, True)]}
    m = merge_rollouts([a, b])
    assert [x["trajectory_id"] for x in m["trajectories"]] == [f"traj{i:05d}" for i in range(4)]
    assert m["n"] == 4 and m["success_rate"] == 0.75 and merge_rollouts([b, a]) == m
    with pytest.raises(ValueError, match="overlap"):
        merge_rollouts([a, a])


def test_merge_micro_keeps_panel_order_and_sums_time():
    part = lambda recs, wall: {"seed": 0, "panel": {"chosen": {}}, "records": recs, "wall_time_s": wall,  # noqa: E731
                               "device": "cpu", "dtype": "float32", "shard": 0, "shard_size": 2, "n_snapshots": 0}
    m = merge_micro([part([{"snapshot_id": "b"}, {"snapshot_id": "a"}], 2.0), part([{"snapshot_id": "c"}], 1.0)])
    assert [r["snapshot_id"] for r in m["records"]] == ["b", "a", "c"]
    assert m["n_snapshots"] == 3 and m["wall_time_s"] == 3.0 and m["seconds_per_snapshot"] == 1.0
    assert "shard" not in m and m["n_jobs"] == 2


# --- per-item results do not depend on shards, N or the live cap ----------------------------

@pytest.fixture(scope="module")
def mock_setup(mock_student):
    from teachable.envs import env_from_config
    from teachable.policy import Policy

    cfg = load_config(MOCK_CONFIG)
    policy = Policy.load(mock_student, None, "cpu", cfg["student"]["batch_size"])
    return cfg, policy, partial(env_from_config, cfg["env"])


def test_live_cap_bounds_envs_and_keeps_results(mock_setup):
    from teachable.mining import task_seeds
    from teachable.engine import EpisodeSpec, run_episodes

    cfg, policy, mk = mock_setup
    alive, peak = set(), [0]

    def counting_env():
        env = mk()
        alive.add(id(env))
        peak[0] = max(peak[0], len(alive))
        weakref.finalize(env, alive.discard, id(env))
        return env

    specs = [EpisodeSpec(f"e{i}", seed=s, max_steps=12, sample_seed=100 + i)
             for i, s in enumerate(task_seeds(0, "cap_test", 20))]
    free = run_episodes(policy, counting_env, specs, 1.0, 2, record_steps=True, max_live=len(specs))
    assert peak[0] == len(specs)
    alive.clear()
    peak[0] = 0
    capped = run_episodes(policy, counting_env, specs, 1.0, 2, record_steps=True, max_live=3)
    assert peak[0] <= 3
    assert [r.episode_id for r in capped] == [s.episode_id for s in specs]
    for a, b in zip(free, capped):
        assert (a.actions, a.success, a.steps, a.loop_step) == (b.actions, b.success, b.steps, b.loop_step)
        for ra, rb in zip(a.records, b.records):
            assert ra.probs == pytest.approx(rb.probs, abs=1e-5)


def test_phase0_shards_and_n_keep_first_items(mock_setup):
    from teachable.mining import student_rollouts

    cfg, policy, mk = mock_setup
    st = cfg["student"]
    run = lambda n, ids=None: student_rollouts(policy, mk, n, 0, st["temperature"], st["history"],  # noqa: E731
                                               cfg["env"]["max_steps"], ids=ids)
    small, big = run(4), run(8)
    shards = merge_rollouts([{"seed": 0, "trajectories": run(8, range(4, 8))},
                             {"seed": 0, "trajectories": run(8, range(0, 4))}])["trajectories"]
    key = lambda ts: [(t["trajectory_id"], t["task_seed"], t["actions"], t["success"]) for t in ts]  # noqa: E731
    assert key(big[:4]) == key(small)  # raising N keeps the first items
    assert key(shards) == key(big)  # sharding keeps every item


def test_labeling_shard_count_keeps_labels(mock_setup):
    from teachable.labeling.pipeline import label_shard, shard_of
    from teachable.mining import mine_failures, student_rollouts
    from teachable.teacher import make_teacher

    cfg, policy, mk = mock_setup
    st = cfg["student"]
    trajs = student_rollouts(policy, mk, 12, 0, st["temperature"], st["history"], cfg["env"]["max_steps"])
    snaps = mine_failures(trajs, mk, cfg["phase0"]["k_offsets"], st["history"])[:6]
    assert len(snaps) >= 4

    def label(sub):
        teacher = make_teacher(cfg["teacher"])
        return label_shard(policy, mk, teacher, copy.deepcopy(sub), cfg["labeling"], 0, st["temperature"],
                           st["history"])[0]

    whole = {s["snapshot_id"]: s for s in label(shard_of(snaps, 0, 1))}
    parts = {s["snapshot_id"]: s for k in range(3) for s in label(shard_of(snaps, k, 3))}
    assert whole.keys() == parts.keys()
    for sid in whole:
        a, b = whole[sid], parts[sid]
        for k in ("p_policy", "p_force", "p_deviate", "ELP_net", "L_local_plugin"):  # rollout outcomes: exactly equal
            if k in a:
                assert a[k] == b[k], (sid, k)
        # L_local weighs them by pi*, from the same batched forward as U (float32 rounding only)
        assert a["L_local"] == pytest.approx(b["L_local"], abs=1e-6), sid
        # U comes from one batched forward: another batch composition changes float32 rounding only
        assert a["U"] == pytest.approx(b["U"], abs=1e-6), sid


def test_eval_blocks_equal_one_job(mock_setup):
    from teachable.evaluation import episode_rows, eval_specs, metrics_from_rows
    from teachable.snapshot import encode_state

    cfg, policy, mk = mock_setup
    env = mk()
    env.reset(1)
    snaps = [{"snapshot_id": f"s{i}", "quadrant": q, "heldout": True, "state": encode_state(env.get_state()),
              "history": []} for i, q in enumerate(["Q1_highU_highL", "Q2_highU_lowL", "Q3_lowU_lowL",
                                                     "Q4_lowU_highL"] * 2)]
    n = len(eval_specs(cfg, snaps)[0])
    whole = episode_rows(policy, cfg, snaps)
    blocks = [episode_rows(policy, cfg, snaps, b, 5) for b in range(n_shards(n, 5))]
    assert [r for b in blocks for r in b] == whole
    assert metrics_from_rows(whole) == metrics_from_rows([r for b in blocks for r in b])
