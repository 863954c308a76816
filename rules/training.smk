# Phase 2: the training matrix, one train_seed job per training seed, and the summary
# (localrule). A train_seed job trains every run of the matrix for its seed and writes each
# run's phase-3 evaluation blocks right after training it (rules/evaluation.smk gathers
# them). validation_train (rules/validation.smk) runs the same script for one run.

from teachable.vocab import RUN_IDS


# The student's own solved behaviour, mixed into every run's batches (training.replay_*):
# one set for every run, seed and selection arm.
rule replay_set:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
    output:
        jsonl=f"{R}/phase2/replay_set.jsonl",
        info=f"{R}/phase2/replay_set.json",
    log:
        f"{R}/logs/replay_set.log",
    benchmark:
        f"{R}/benchmarks/replay_set.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=MODEL_GPU,
    params:
        cfg=cfg_json(
            "env",
            "student",
            "training.replay_share",
            "training.replay_source",
            "training.replay_tasks",
            "training.replay_min_p",
            "training.probe_tasks",
        ),
        student=student_arg,
    shell:
        "python scripts/replay_set.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --out {output.jsonl} --info {output.info} --threads {threads} > {log} 2>&1"


# One job per seed trains every run of the matrix in one process (the imports and the
# student's load are paid once per seed, not per run) and evaluates each saved adapter.
SEED_RUNS = f"{R}/phase2/{{run_id}}/seed{{{{seed}}}}"  # {run_id} expanded, {seed} kept


rule train_seed:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
        replay=rules.replay_set.output.jsonl,
        replay_info=rules.replay_set.output.info,
    output:
        blocks=expand(
            EVAL_BLOCK.replace("{seed}", "{{seed}}"),
            run_id=RUN_IDS,
            shard=EVAL_BLOCKS,
        ),
        adapters=[directory(d) for d in expand(f"{SEED_RUNS}/adapter", run_id=RUN_IDS)],
        runs=expand(f"{SEED_RUNS}/run.json", run_id=RUN_IDS),
        metrics=expand(f"{SEED_RUNS}/metrics.jsonl", run_id=RUN_IDS),
    log:
        f"{R}/logs/phase2/seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/phase2/seed{{seed}}.tsv"
    # the longest jobs of the DAG: started first, so that the short ones (selection
    # arms, label_reliability) fill the other cores instead of leaving one seed alone
    priority: 10
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30 * len(RUN_IDS),
        gpu=MODEL_GPU,
    params:
        cfg=dag.train_config_json(config),
        student=student_arg,
        runs=dag.seed_job_args(config["eval"]["shard_size"]),
    shell:
        "python scripts/train_seed.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --replay {input.replay} --replay-info {input.replay_info} --seed {wildcards.seed} --stage phase2"
        " {params.runs} --threads {threads} > {log} 2>&1"


rule training_summary:
    input:
        expand(
            f"{R}/phase2/{{run_id}}/seed{{seed}}/run.json",
            run_id=RUN_IDS,
            seed=TRAIN_SEEDS,
        ),
    output:
        f"{R}/phase2/training_summary.json",
    log:
        f"{R}/logs/training_summary.log",
    localrule: True
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python scripts/training_summary.py --runs {input} --out {output} > {log} 2>&1"


ALL_TARGETS.append(f"{R}/phase2/training_summary.json")
