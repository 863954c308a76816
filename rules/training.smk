# Phase 2: the training matrix, one job per (run_id, seed), and the summary (localrule).
# validation_train (rules/validation.smk) re-runs train_run's recipe via `use rule`.
# With eval.with_training a run's phase-3 evaluation blocks are written by its training job
# (rules/evaluation.smk then has no evaluate_run).

TRAIN_SEEDS = config["training"]["seeds"]
EVAL_WITH_TRAINING = config["eval"]["with_training"]
P3B = f"{R}/phase3/blocks"
EVAL_BLOCK = f"{P3B}/{{run_id}}/seed{{seed}}/block{{shard}}.json"  # one model's block
TRAINED_BLOCKS = (
    {
        "blocks": [
            EVAL_BLOCK.replace("{shard}", str(b)) for b in range(STAGE_SHARDS["eval"])
        ]
    }
    if EVAL_WITH_TRAINING
    else {}
)


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


rule train_run:
    input:
        student=student_dir(),
        labeled=rules.label_gather.output.jsonl,
        replay=rules.replay_set.output.jsonl,
        replay_info=rules.replay_set.output.info,
    output:
        **TRAINED_BLOCKS,
        adapter=directory(f"{R}/phase2/{{run_id}}/seed{{seed}}/adapter"),
        run=f"{R}/phase2/{{run_id}}/seed{{seed}}/run.json",
        metrics=f"{R}/phase2/{{run_id}}/seed{{seed}}/metrics.jsonl",
    log:
        f"{R}/logs/phase2/{{run_id}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/phase2/{{run_id}}_seed{{seed}}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=MODEL_GPU,
    params:
        cfg=dag.train_config_json(config),
        student=student_arg,
        out=lambda wildcards, output: os.path.dirname(output.run),
        stage="phase2",
        evaluate=dag.eval_block_args(config["eval"]["shard_size"]),
    shell:
        "python scripts/train_run.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
        " --replay {input.replay} --replay-info {input.replay_info} --run-id {wildcards.run_id} --seed {wildcards.seed} --out-dir {params.out} --stage {params.stage}"
        " {params.evaluate} --threads {threads} > {log} 2>&1"


# training.job: seed -- one job per seed trains every run of the matrix in one process and
# writes the very files train_run writes (the imports and the student's load are paid once
# per seed, not per run); train_run then stays the recipe of validation_train.
if config["training"]["job"] == "seed":

    ruleorder: train_seed > train_run

    SEED_RUNS = (
        f"{R}/phase2/{{run_id}}/seed{{{{seed}}}}"  # {run_id} expanded, {seed} kept
    )

    rule train_seed:
        input:
            student=student_dir(),
            labeled=rules.label_gather.output.jsonl,
            replay=rules.replay_set.output.jsonl,
            replay_info=rules.replay_set.output.info,
        output:
            **(
                {
                    "blocks": expand(
                        EVAL_BLOCK.replace("{seed}", "{{seed}}"),
                        run_id=RUN_IDS,
                        shard=range(STAGE_SHARDS["eval"]),
                    )
                }
                if EVAL_WITH_TRAINING
                else {}
            ),
            adapters=[
                directory(d) for d in expand(f"{SEED_RUNS}/adapter", run_id=RUN_IDS)
            ],
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
            cfg=rules.train_run.params.cfg,
            student=student_arg,
            runs=dag.seed_job_args(config["eval"]["shard_size"]),
        shell:
            "python scripts/train_run.py --cfg {params.cfg:q} {params.student} --labeled {input.labeled}"
            " --replay {input.replay} --replay-info {input.replay_info} --seed {wildcards.seed} --stage phase2"
            " {params.runs} --threads {threads} > {log} 2>&1"


rule training_summary:
    input:
        expand(rules.train_run.output.run, run_id=RUN_IDS, seed=TRAIN_SEEDS),
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
        "python scripts/train_summary.py --runs {input} --out {output} > {log} 2>&1"


ALL_TARGETS.append(f"{R}/phase2/training_summary.json")
