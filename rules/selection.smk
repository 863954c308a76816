# Phase 5: data selection. Each method picks selection.budget train snapshots; one
# selection_seed job per training seed trains every method's arm with the shared SFT recipe
# and evaluates it like phase 3 (against BASE's phase-3 record).

from teachable.vocab import PER_SEED_METHODS, SELECTION_METHODS

SEL = f"{R}/phase5/selection"
SEL_RECORD = f"{SEL}/{{method}}/seed{{seed}}/eval.json"
SEL_EPISODES = f"{SEL}/{{method}}/seed{{seed}}/eval.episodes.csv"
SEL_METHODS = config["selection"]["methods"]
PER_SEED_PICKS = PER_SEED_METHODS  # random: redrawn per training seed
# Only the predictor arm needs the phase-4 model (and its out-of-fold scores).
PREDICTOR = {
    "model": rules.train_predictor.output.model,
    "oof": rules.train_predictor.output.oof,
}


rule selection_pick:
    input:
        unpack(lambda wc: PREDICTOR if wc.method == "predictor" else {}),
        snapshots=rules.label_gather.output.jsonl,
    output:
        f"{SEL}/{{method}}/picks.json",
    log:
        f"{R}/logs/selection_pick_{{method}}.log",
    wildcard_constraints:
        method="|".join(m for m in SELECTION_METHODS if m not in PER_SEED_PICKS),
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json("selection"),
        predictor=lambda wc, input: (
            f"--predictor {input.model} --oof {input.oof}"
            if wc.method == "predictor"
            else ""
        ),
        train_seed=lambda wc: f"--train-seed {wc.seed}" if "seed" in wc.keys() else "",
    shell:
        "python scripts/selection_pick.py --cfg {params.cfg:q} --method {wildcards.method}"
        " --snapshots {input.snapshots} {params.predictor} {params.train_seed} --out {output} > {log} 2>&1"


# random is redrawn per training seed: one picks.json per (method, seed)
use rule selection_pick as selection_pick_per_seed with:
    output:
        f"{SEL}/{{method}}/seed{{seed}}/picks.json",
    log:
        f"{R}/logs/selection_pick_{{method}}_seed{{seed}}.log",
    wildcard_constraints:
        method="|".join(PER_SEED_PICKS),
    localrule: True


# One job per seed trains and evaluates every arm of the seed in one process (the imports
# and the student's load are paid once per seed).
SEED_ARMS = f"{SEL}/{{method}}/seed{{{{seed}}}}"  # {method} expanded, {seed} kept


rule selection_seed:
    input:
        base=BASE_RECORD,
        student=student_dir(),
        snapshots=rules.label_gather.output.jsonl,
        picks=lambda wc: [dag.picks_path(SEL, m, wc.seed) for m in SEL_METHODS],
        replay=rules.replay_set.output.jsonl,
        replay_info=rules.replay_set.output.info,
    output:
        records=expand(f"{SEED_ARMS}/eval.json", method=SEL_METHODS),
        episodes=expand(f"{SEED_ARMS}/eval.episodes.csv", method=SEL_METHODS),
        adapters=[
            directory(d) for d in expand(f"{SEED_ARMS}/adapter", method=SEL_METHODS)
        ],
        runs=expand(f"{SEED_ARMS}/run.json", method=SEL_METHODS),
        metrics=expand(f"{SEED_ARMS}/metrics.jsonl", method=SEL_METHODS),
    log:
        f"{R}/logs/selection_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/selection_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60 * len(SEL_METHODS),
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json("env", "student", "training", "selection", "eval"),
        student=student_arg,
        arms=dag.arm_seed_args,
    shell:
        "python scripts/selection_seed.py --cfg {params.cfg:q} {params.student} --snapshots {input.snapshots}"
        " --replay {input.replay} --replay-info {input.replay_info} --seed {wildcards.seed}"
        " {params.arms} --threads {threads} > {log} 2>&1"


rule selection_summary:
    input:
        evals=expand(SEL_RECORD, method=SEL_METHODS, seed=TRAIN_SEEDS),
        picks=sorted(
            {dag.picks_path(SEL, m, s) for m in SEL_METHODS for s in TRAIN_SEEDS}
        ),
        episodes=expand(
            SEL_EPISODES,
            method=SEL_METHODS,
            seed=TRAIN_SEEDS,
        ),
    output:
        summary=f"{SEL}/selection_summary.json",
        table=f"{SEL}/selection_comparison.csv",
    log:
        f"{R}/logs/selection_summary.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cfg=cfg_json("selection", "gates.strict", "stats.min_seeds"),
        out=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        "python scripts/selection_summary.py --cfg {params.cfg:q} --evals {input.evals} --picks {input.picks}"
        " --episodes {input.episodes}"
        " --out-dir {params.out} > {log} 2>&1"


ALL_TARGETS.extend([f"{SEL}/selection_summary.json", f"{SEL}/selection_comparison.csv"])
